//! The operator's commands of `mtx-api`: the same domain functions as the HTTP routes, with
//! their answer printed to stdout as JSON.
//!
//! - `mtx-api plan [--all | <tenant>…] [--allow-destructive]`: what `upgrade` would do (as
//!   `{"options":{"dryRun":true}}` answers); no tenant given means `--all`.
//! - `mtx-api drift <tenant>`: the tenant's schema against its recorded version.
//! - `mtx-api repair <tenant> --adopt [--version <hash>] [--force]` or
//!   `mtx-api repair <tenant> --repair [--allow-destructive]`.

use anyhow::{Context as _, bail};
use mtx_shared::config::Config;
use mtx_shared::deploy::Resolution;
use mtx_shared::jobs::service::TenantSelection;
use mtx_shared::lifecycle::Command;
use mtx_shared::plan::plan_upgrade;
use mtx_shared::system::System;
use mtx_shared::vocab::{ModelHash, TenantId, UpgradeOptions};
use serde::Serialize;

/// The commands `mtx-api` accepts besides serving and `config`.
pub const COMMANDS: &[Command] = &[
    Command {
        name: "plan",
        usage: "[--all | <tenant>…] [--allow-destructive]",
    },
    Command {
        name: "drift",
        usage: "<tenant>",
    },
    Command {
        name: "repair",
        usage: "<tenant> (--adopt [--version <hash>] [--force] | --repair [--allow-destructive])",
    },
];

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
enum Cli {
    Plan {
        selection: TenantSelection,
        options: UpgradeOptions,
    },
    Drift(TenantId),
    Repair(TenantId, Resolution),
}

fn tenant(raw: &str) -> anyhow::Result<TenantId> {
    TenantId::parse(raw).map_err(|e| anyhow::anyhow!("invalid tenant id '{raw}': {e}"))
}

fn parse(args: &[String]) -> anyhow::Result<Cli> {
    let Some((command, rest)) = args.split_first() else {
        bail!("no command given");
    };
    match command.as_str() {
        "plan" => {
            let mut tenants = Vec::new();
            let mut all = false;
            let mut options = UpgradeOptions {
                dry_run: true,
                ..UpgradeOptions::default()
            };
            for arg in rest {
                match arg.as_str() {
                    "--all" => all = true,
                    "--allow-destructive" => options.allow_destructive = true,
                    flag if flag.starts_with("--") => bail!("plan: unknown option '{flag}'"),
                    id => tenants.push(tenant(id)?),
                }
            }
            if all && !tenants.is_empty() {
                bail!("plan: give either --all or tenants, not both");
            }
            let selection = if tenants.is_empty() {
                TenantSelection::All
            } else {
                TenantSelection::Only(tenants)
            };
            Ok(Cli::Plan { selection, options })
        }
        "drift" => match rest {
            [id] => Ok(Cli::Drift(tenant(id)?)),
            _ => bail!("drift: give exactly one tenant"),
        },
        "repair" => {
            let Some((id, flags)) = rest.split_first() else {
                bail!("repair: give a tenant");
            };
            let (mut adopt, mut repair, mut force, mut allow) = (false, false, false, false);
            let mut version = None;
            let mut flags = flags.iter();
            while let Some(flag) = flags.next() {
                match flag.as_str() {
                    "--adopt" => adopt = true,
                    "--repair" => repair = true,
                    "--force" => force = true,
                    "--allow-destructive" => allow = true,
                    "--version" => {
                        let raw = flags.next().context("repair: --version needs a hash")?;
                        version = Some(ModelHash::parse(raw)?);
                    }
                    other => bail!("repair: unknown option '{other}'"),
                }
            }
            let resolution = match (adopt, repair) {
                (true, false) if !allow => Resolution::Adopt { version, force },
                (false, true) if !force && version.is_none() => Resolution::Repair {
                    allow_destructive: allow,
                },
                _ => bail!(
                    "repair: give --adopt [--version <hash>] [--force] or --repair \
                     [--allow-destructive]"
                ),
            };
            Ok(Cli::Repair(tenant(id)?, resolution))
        }
        other => bail!("unknown command '{other}'"),
    }
}

fn print(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Runs one command line (`args` without the binary's name) against the configured system.
pub async fn run(config: Config, args: &[String]) -> anyhow::Result<()> {
    let cli = parse(args)?;
    let system = System::build(config).await?;
    match cli {
        Cli::Plan { selection, options } => print(
            &plan_upgrade(system.jobs(), system.deployer(), selection, options)
                .await
                .context("planning the upgrade")?,
        ),
        Cli::Drift(tenant) => print(
            &system
                .deployer()
                .drift(&tenant)
                .await
                .with_context(|| format!("checking tenant {tenant} for drift"))?,
        ),
        Cli::Repair(tenant, resolution) => print(
            &system
                .deployer()
                .resolve(&tenant, &resolution)
                .await
                .with_context(|| format!("resolving the drift of tenant {tenant}"))?,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn plan_takes_all_or_tenants_and_the_destructive_option() {
        let Cli::Plan { selection, options } = parse(&args("plan")).expect("parses") else {
            panic!("not a plan");
        };
        assert_eq!(selection, TenantSelection::All);
        assert!(options.dry_run && !options.allow_destructive);
        let Cli::Plan { selection, options } =
            parse(&args("plan t1 t2 --allow-destructive")).expect("parses")
        else {
            panic!("not a plan");
        };
        assert_eq!(
            selection,
            TenantSelection::Only(vec![tenant("t1").expect("id"), tenant("t2").expect("id")])
        );
        assert!(options.allow_destructive);
        assert!(parse(&args("plan --all t1")).is_err());
        assert!(parse(&args("plan --bogus")).is_err());
    }

    #[test]
    fn drift_and_repair_name_one_tenant_and_one_mode() {
        assert_eq!(
            parse(&args("drift t1")).expect("parses"),
            Cli::Drift(tenant("t1").expect("id"))
        );
        assert!(parse(&args("drift")).is_err());
        assert_eq!(
            parse(&args("repair t1 --repair --allow-destructive")).expect("parses"),
            Cli::Repair(
                tenant("t1").expect("id"),
                Resolution::Repair {
                    allow_destructive: true
                }
            )
        );
        assert_eq!(
            parse(&args("repair t1 --adopt --force")).expect("parses"),
            Cli::Repair(
                tenant("t1").expect("id"),
                Resolution::Adopt {
                    version: None,
                    force: true
                }
            )
        );
        assert!(parse(&args("repair t1 --adopt --repair")).is_err());
        assert!(parse(&args("repair t1 --repair --force")).is_err());
    }
}
