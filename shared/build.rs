//! Rebuilds the crate when a control-plane migration is added: `sqlx::migrate!` embeds the files
//! it found, and on stable Rust the compiler watches only those, not their folders.

fn main() {
    println!("cargo:rerun-if-changed=../migrations/postgres");
    println!("cargo:rerun-if-changed=../migrations/sqlite");
}
