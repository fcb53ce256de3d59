//! Executing tenant operations against tenant storage (being written).
