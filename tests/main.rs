//! kgen's integration tests, one binary (as jj does): one link instead of one per file, and one
//! process whose tests run in parallel. Each module is one area; `common` holds the helpers.

mod common;

mod cli;
mod compat;
mod completions;
mod diff;
mod explain;
mod fuzz;
mod gitops;
mod help;
mod hydrate;
mod injection;
mod invalid;
mod layering;
mod lifecycle;
mod lifecycle_charts;
mod llm;
mod local_safety;
mod local_safety_write;
mod openshift;
mod pipeline;
mod proptest_edit;
mod proptest_loader;
mod readme;
mod render;
mod rules;
mod upgrade;
