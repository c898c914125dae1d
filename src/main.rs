//! `pipeline-otel-bridge`: parses arguments, sets up logging, hands over to the library.

use clap::{Parser, Subcommand};
use pipeline_otel_bridge::config::{limits, parse_duration_at_most};
use pipeline_otel_bridge::sanitize::Escaped;
use pipeline_otel_bridge::{app, render, sources};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Turns AWS pipeline runs (Glue, Step Functions, …) into OpenTelemetry traces and metrics.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Poll AWS and export every finished run over OTLP.
    Run {
        /// Config file (TOML); without it every pipeline of every source is watched.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Run one poll cycle, export, save checkpoints and exit (non-zero if an export failed).
        #[arg(long, conflicts_with = "cycles")]
        once: bool,
        /// Run this many poll cycles (one `poll_interval` apart), then exit like `--once`.
        #[arg(long)]
        cycles: Option<u64>,
        /// Where checkpoints live (created if missing).
        #[arg(long, env = "PIPELINE_BRIDGE_STATE_DIR")]
        state: Option<PathBuf>,
        /// Also print each finished run as a tree on stdout.
        #[arg(long)]
        print: bool,
        /// Serve `/metrics` (Prometheus text), `/healthz` and `/readyz` on this address,
        /// e.g. `0.0.0.0:9464`.
        #[arg(long, env = "PIPELINE_BRIDGE_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// If the checkpoint store is damaged, move it aside (`checkpoints.redb.damaged-…`) and
        /// start over from the lookback instead of refusing to start.
        #[arg(long)]
        recover_state: bool,
    },
    /// Validate the config and try read access to each source.
    Check {
        /// Config file (TOML) to validate and use; without it, the zero-config default.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print the least-privilege, read-only IAM policy (JSON, as `aws iam create-policy`
    /// takes it) for the sources the config enables.
    IamPolicy {
        /// Config file (TOML); without it, every source.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Only the sources of this `[[accounts]]` entry (its name or account id).
        #[arg(long, conflicts_with_all = ["bridge", "trust"])]
        account: Option<String>,
        /// The policy of the identity the bridge runs as: sts:AssumeRole on the configured
        /// roles (and the read-only actions if the ambient account is watched).
        #[arg(long, conflicts_with = "trust")]
        bridge: bool,
        /// The trust policy of this account's role (its name or account id), with its
        /// ExternalId as a condition; needs --principal.
        #[arg(long, requires = "principal", value_name = "ACCOUNT")]
        trust: Option<String>,
        /// The ARN the bridge runs as (a role, user or account root), trusted by --trust.
        #[arg(long, value_name = "ARN", requires = "trust")]
        principal: Option<String>,
    },
    /// Print recent runs as trees, straight from AWS (exports nothing, changes no state).
    Runs {
        /// Config file (TOML): regions, sources and name filters; without it every pipeline of
        /// every source is listed.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// How far back, e.g. `24h`, `90m`, `7d`; at most 365 days.
        #[arg(long, default_value = "24h", value_parser = parse_since)]
        since: Duration,
    },
    /// Print the trace id and root span id the bridge gives a run.
    TraceId {
        /// The pipeline's kind, as in `[[pipelines]] kind`.
        #[arg(long, value_parser = kind_names())]
        kind: String,
        #[arg(long)]
        account: String,
        #[arg(long)]
        region: String,
        /// The pipeline's name (job, state machine, …).
        #[arg(long)]
        pipeline: String,
        /// The run's id (`cicd.pipeline.run.id`: Glue JobRunId, execution ARN, …).
        #[arg(long)]
        run_id: String,
        /// The run's attempt (Glue attempt, Step Functions redrive count, …).
        #[arg(long, default_value_t = 0)]
        attempt: u32,
    },
}

/// `--kind`: the kinds of the registered sources.
fn kind_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(sources::ALL.iter().map(|s| s.kind.as_str()))
}

/// `--since`: a duration of at most 365 days (AWS keeps no older runs).
fn parse_since(s: &str) -> Result<Duration, String> {
    parse_duration_at_most(s, limits::SINCE)
}

/// Colours only for a person: stderr is a terminal and `NO_COLOR` is unset or empty.
fn log_colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn main() -> ExitCode {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("PIPELINE_BRIDGE_LOG")
        .unwrap_or_else(|_| "info,aws_config=warn,aws_smithy_runtime=warn".into())
        // The SDK logs STS's refusal as it came (AWS text, unescaped); the bridge logs the same
        // failure itself, escaped, with what to fix.
        .add_directive(
            "aws_config::sts::assume_role=error"
                .parse()
                .expect("a valid directive"),
        );
    // The SDK's trace level logs whole requests (an AssumeRole carries the ExternalId) and
    // responses (credentials, unescaped AWS text): never, whatever the filter says.
    let no_wire = tracing_subscriber::filter::filter_fn(|m| {
        !(*m.level() == tracing::Level::TRACE && m.target().starts_with("aws_"))
    });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(log_colours())
                .with_filter(filter)
                .with_filter(no_wire),
        )
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            // The chain may hold AWS text (error messages): escaped like everything printed.
            eprintln!("error: {}", Escaped(format_args!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Run {
            config,
            once,
            cycles,
            state,
            print,
            listen,
            recover_state,
        } => {
            let cfg = app::load_config(config.as_deref())?;
            let opts = app::RunOptions {
                cycles: if once { Some(1) } else { cycles },
                state_dir: state.unwrap_or_else(app::default_state_dir),
                print,
                listen,
                recover_state,
            };
            // 0 ok, 1 export not acknowledged, 3 AWS errors, 4 checkpoint not committed
            // (2: configuration or start-up error, below).
            let code = app::run(cfg, opts, shutdown_signal()).await?;
            Ok(ExitCode::from(code))
        }
        Command::IamPolicy {
            config,
            account,
            bridge,
            trust,
            principal,
        } => {
            let cfg = app::load_config(config.as_deref())?;
            let what = match (trust, principal) {
                (Some(account), Some(principal)) => app::PolicyFor::Trust { account, principal },
                _ if bridge => app::PolicyFor::Bridge,
                _ => app::PolicyFor::Watched(account),
            };
            println!("{}", app::iam_policy(&cfg, &what)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config } => {
            let cfg = app::load_config(config.as_deref())?;
            println!(
                "config ok{}",
                config
                    .map(|c| format!(": {}", c.display()))
                    .unwrap_or_default()
            );
            let (lines, ok) = app::check(cfg).await?;
            for l in lines {
                println!("{}", Escaped(&l));
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Runs { config, since } => {
            let cfg = app::load_config(config.as_deref())?;
            let (runs, errors) = app::runs(cfg, since).await?;
            for r in &runs {
                println!("{}", render::render_run(r));
            }
            println!(
                "{} run(s) since {}",
                runs.len(),
                humantime::format_duration(since)
            );
            for e in &errors {
                eprintln!("warning: {}", Escaped(e));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::TraceId {
            kind,
            account,
            region,
            pipeline,
            run_id,
            attempt,
        } => {
            let kind = sources::kind(&kind).ok_or_else(|| {
                anyhow::anyhow!("--kind `{kind}`: expected {}", sources::kind_names())
            })?;
            println!(
                "{}",
                app::trace_id(kind, &account, &region, &pipeline, &run_id, attempt)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
