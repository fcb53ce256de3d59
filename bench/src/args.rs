//! The command line: `mtx-bench <scenario> [--flag value | --flag=value | --switch]...`.

use std::collections::BTreeMap;
use std::time::Duration;

use mtx_shared::vocab::{JobId, TenantId};

use crate::client::ClientParams;
use crate::wait::WaitParams;

/// The usage text `help`, `--help` and every argument error print.
pub const USAGE: &str = "\
mtx-bench: drives a running mtx sidecar over HTTP and reports throughput and latency.

USAGE:
  mtx-bench provision       --tenants N [--concurrency C] [--prefix P] [--cleanup]
                            [--model-file F --upgrade-model G] [common]
  mtx-bench enqueue-latency --repeat R [--concurrency C] [--no-wait] [common]
  mtx-bench poll-latency    [--job ID] [--duration-ms D] [--concurrency C] [common]

SCENARIOS:
  provision        subscribes N tenants <P>-00001.. asynchronously (C requests in flight), waits
                   for every job, then upgrades [\"*\"] and waits for that job; --cleanup
                   unsubscribes the tenants afterwards. With --model-file F (the sidecar's
                   MTX_MODEL file) and --upgrade-model G, G is copied over F before the
                   upgrade, so every tenant's schema really evolves (the sidecar re-reads a
                   changed model file); without them the upgrade re-deploys the same version.
  enqueue-latency  sends R upgrade [\"*\"] requests (C at a time) and measures the time to 202;
                   then waits for the jobs unless --no-wait.
  poll-latency     polls pollJob of --job (or of a fresh upgrade [\"*\"] job) for D ms.

COMMON FLAGS:
  --url URL                 sidecar base URL            [default: http://127.0.0.1:4005]
  --auth USER:PASSWORD      HTTP basic authentication   [default: none]
  --json                    also print one JSON line with the results (last line)
  --request-timeout-ms MS   per request                 [default: 30000]
  --poll-interval-ms MS     between polling rounds      [default: 100]
  --timeout-s S             give up waiting for jobs    [default: 1800]
  --max-throttled N         429 answers accepted per request before giving up [default: 100]

Defaults: --concurrency 16 (provision), 1 (others); --prefix bench; --duration-ms 10000.
Exit status: 0 all went well, 1 something failed (reported), 2 bad arguments.";

/// Flags that take no value.
const SWITCHES: &[&str] = &["json", "cleanup", "no-wait", "help"];

/// A parsed command line.
#[derive(Debug, Clone)]
pub enum Command {
    Provision(ProvisionParams),
    EnqueueLatency(EnqueueLatencyParams),
    PollLatency(PollLatencyParams),
    Help,
}

/// Flags every scenario shares.
#[derive(Debug, Clone)]
pub struct Common {
    pub client: ClientParams,
    pub wait: WaitParams,
    pub json: bool,
}

/// `provision`: subscribe, upgrade, optionally unsubscribe.
#[derive(Debug, Clone)]
pub struct ProvisionParams {
    pub common: Common,
    /// The tenants to subscribe, already validated.
    pub tenants: Vec<TenantId>,
    pub concurrency: usize,
    pub cleanup: bool,
    /// `(sidecar's model file, new model)`: copied over before the upgrade phase.
    pub switch_model: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// `enqueue-latency`: repeated `upgrade ["*"]`.
#[derive(Debug, Clone)]
pub struct EnqueueLatencyParams {
    pub common: Common,
    pub repeat: usize,
    pub concurrency: usize,
    pub wait_for_jobs: bool,
}

/// `poll-latency`: `pollJob` in a loop.
#[derive(Debug, Clone)]
pub struct PollLatencyParams {
    pub common: Common,
    /// The job to poll; `None` starts an `upgrade ["*"]` and polls that.
    pub job: Option<JobId>,
    pub duration: Duration,
    pub concurrency: usize,
}

/// A command-line mistake; the message names the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArgsError(String);

fn err<T>(message: impl Into<String>) -> Result<T, ArgsError> {
    Err(ArgsError(message.into()))
}

/// Parses the arguments after the program name.
pub fn parse<I, S>(args: I) -> Result<Command, ArgsError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut args = args.into_iter().map(Into::into);
    let Some(scenario) = args.next() else {
        return err("no scenario given");
    };
    if matches!(scenario.as_str(), "help" | "--help" | "-h") {
        return Ok(Command::Help);
    }
    let mut flags = Flags::parse(args)?;
    if flags.switch("help") {
        return Ok(Command::Help);
    }
    let common = Common::take(&mut flags)?;
    let command = match scenario.as_str() {
        "provision" => {
            let count: usize = flags.required("tenants")?;
            if count == 0 {
                return err("--tenants must be at least 1");
            }
            let prefix = flags.value("prefix").unwrap_or_else(|| "bench".to_owned());
            let tenants = tenant_ids(&prefix, count)?;
            Command::Provision(ProvisionParams {
                common,
                tenants,
                concurrency: flags.positive("concurrency", 16)?,
                cleanup: flags.switch("cleanup"),
                switch_model: match (flags.value("model-file"), flags.value("upgrade-model")) {
                    (Some(file), Some(new)) => Some((file.into(), new.into())),
                    (None, None) => None,
                    _ => return err("--model-file and --upgrade-model go together"),
                },
            })
        }
        "enqueue-latency" => Command::EnqueueLatency(EnqueueLatencyParams {
            common,
            repeat: flags.positive_required("repeat")?,
            concurrency: flags.positive("concurrency", 1)?,
            wait_for_jobs: !flags.switch("no-wait"),
        }),
        "poll-latency" => {
            let job = match flags.value("job") {
                Some(raw) => Some(
                    JobId::parse(&raw)
                        .or_else(|_| err(format!("--job: '{raw}' is not a job id (a UUID)")))?,
                ),
                None => None,
            };
            Command::PollLatency(PollLatencyParams {
                common,
                job,
                duration: Duration::from_millis(flags.positive("duration-ms", 10_000)? as u64),
                concurrency: flags.positive("concurrency", 1)?,
            })
        }
        other => return err(format!("unknown scenario '{other}'")),
    };
    flags.finish()?;
    Ok(command)
}

/// `<prefix>-00001` …, zero-padded so they sort; each checked against the sidecar's tenant id
/// rules so a bad prefix fails here, not as N failed requests.
fn tenant_ids(prefix: &str, count: usize) -> Result<Vec<TenantId>, ArgsError> {
    let width = count.to_string().len().max(5);
    (1..=count)
        .map(|i| {
            let raw = format!("{prefix}-{i:0width$}");
            TenantId::parse(&raw).or_else(|e| err(format!("--prefix: tenant id '{raw}': {e}")))
        })
        .collect()
}

impl Common {
    fn take(flags: &mut Flags) -> Result<Self, ArgsError> {
        let basic_auth = match flags.value("auth") {
            Some(raw) => match raw.split_once(':') {
                Some((user, password)) => Some((user.to_owned(), password.to_owned())),
                None => return err("--auth must be USER:PASSWORD"),
            },
            None => None,
        };
        let url = flags
            .value("url")
            .unwrap_or_else(|| "http://127.0.0.1:4005".to_owned());
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return err(format!("--url: '{url}' is not an http(s) URL"));
        }
        let millis = |n: usize| Duration::from_millis(n as u64);
        Ok(Self {
            client: ClientParams {
                base_url: url,
                basic_auth,
                request_timeout: millis(flags.positive("request-timeout-ms", 30_000)?),
                max_throttled: u32::try_from(flags.positive("max-throttled", 100)?)
                    .or_else(|_| err("--max-throttled is too large"))?,
                max_retry_wait: Duration::from_secs(60),
            },
            wait: WaitParams {
                concurrency: 1,
                interval: millis(flags.positive("poll-interval-ms", 100)?),
                deadline: Duration::from_secs(flags.positive("timeout-s", 1800)? as u64),
            },
            json: flags.switch("json"),
        })
    }
}

/// `--name value` / `--name=value` / `--switch`, taken out one by one so leftovers can be
/// reported as unknown.
struct Flags(BTreeMap<String, Option<String>>);

impl Flags {
    fn parse(args: impl Iterator<Item = String>) -> Result<Self, ArgsError> {
        let mut map = BTreeMap::new();
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                return err(format!("unexpected argument '{arg}'"));
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None if SWITCHES.contains(&flag) => (flag.to_owned(), None),
                None => match args.next() {
                    Some(value) => (flag.to_owned(), Some(value)),
                    None => return err(format!("--{flag} needs a value")),
                },
            };
            if map.insert(name.clone(), value).is_some() {
                return err(format!("--{name} given twice"));
            }
        }
        Ok(Self(map))
    }

    fn switch(&mut self, name: &str) -> bool {
        self.0.remove(name).is_some()
    }

    fn value(&mut self, name: &str) -> Option<String> {
        self.0.remove(name).flatten()
    }

    fn required<T: std::str::FromStr>(&mut self, name: &str) -> Result<T, ArgsError> {
        match self.value(name) {
            Some(raw) => raw
                .parse()
                .or_else(|_| err(format!("--{name}: '{raw}' is not a valid number"))),
            None => err(format!("--{name} is required")),
        }
    }

    fn positive_required(&mut self, name: &str) -> Result<usize, ArgsError> {
        let n: usize = self.required(name)?;
        if n == 0 {
            return err(format!("--{name} must be at least 1"));
        }
        Ok(n)
    }

    fn positive(&mut self, name: &str, default: usize) -> Result<usize, ArgsError> {
        if self.0.contains_key(name) {
            self.positive_required(name)
        } else {
            Ok(default)
        }
    }

    /// Fails on any flag no one asked for.
    fn finish(self) -> Result<(), ArgsError> {
        match self.0.keys().next() {
            Some(name) => err(format!("unknown flag --{name}")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Command {
        parse(args.iter().copied()).expect("arguments are valid")
    }

    fn parse_err(args: &[&str]) -> String {
        match parse(args.iter().copied()) {
            Ok(command) => panic!("expected an error, got {command:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn provision_takes_defaults_and_names_tenants_in_order() {
        let Command::Provision(p) = parse_ok(&["provision", "--tenants", "3"]) else {
            panic!("not provision");
        };
        let names: Vec<_> = p.tenants.iter().map(|t| t.as_str().to_owned()).collect();
        assert_eq!(names, ["bench-00001", "bench-00002", "bench-00003"]);
        assert_eq!(p.concurrency, 16);
        assert!(!p.cleanup && !p.common.json);
        assert_eq!(p.common.client.base_url, "http://127.0.0.1:4005");
    }

    #[test]
    fn provision_reads_every_flag_in_both_forms() {
        let Command::Provision(p) = parse_ok(&[
            "provision",
            "--url=http://10.0.0.1:8080/",
            "--tenants",
            "2",
            "--concurrency=4",
            "--prefix",
            "load",
            "--cleanup",
            "--json",
            "--auth",
            "alice:secret:x",
            "--poll-interval-ms",
            "50",
        ]) else {
            panic!("not provision");
        };
        assert_eq!(p.common.client.base_url, "http://10.0.0.1:8080/");
        assert_eq!(p.concurrency, 4);
        assert_eq!(p.tenants.first().map(|t| t.as_str()), Some("load-00001"));
        assert!(p.cleanup && p.common.json);
        assert_eq!(
            p.common.client.basic_auth,
            Some(("alice".to_owned(), "secret:x".to_owned()))
        );
        assert_eq!(p.common.wait.interval, Duration::from_millis(50));
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(parse_err(&[]), "no scenario given");
        assert_eq!(parse_err(&["provision"]), "--tenants is required");
        assert_eq!(
            parse_err(&["provision", "--tenants", "0"]),
            "--tenants must be at least 1"
        );
        assert!(parse_err(&["provision", "--tenants", "x"]).contains("not a valid number"));
        assert!(parse_err(&["provision", "--tenants"]).contains("needs a value"));
        assert_eq!(
            parse_err(&["provision", "--tenants", "1", "--bogus", "1"]),
            "unknown flag --bogus"
        );
        assert!(
            parse_err(&["provision", "--tenants", "1", "--prefix", "a/b"]).contains("--prefix")
        );
        assert!(
            parse_err(&["provision", "--tenants", "1", "--url", "localhost"]).contains("--url")
        );
        assert_eq!(parse_err(&["frobnicate"]), "unknown scenario 'frobnicate'");
        assert!(parse_err(&["poll-latency", "--job", "42"]).contains("not a job id"));
        assert!(
            parse_err(&["enqueue-latency", "--repeat", "1", "--repeat", "2"]).contains("twice")
        );
    }

    #[test]
    fn enqueue_and_poll_latency_parse() {
        let Command::EnqueueLatency(e) =
            parse_ok(&["enqueue-latency", "--repeat", "5", "--no-wait"])
        else {
            panic!("not enqueue-latency");
        };
        assert_eq!((e.repeat, e.concurrency, e.wait_for_jobs), (5, 1, false));

        let Command::PollLatency(p) = parse_ok(&[
            "poll-latency",
            "--job",
            "3ccd2ff4-e79c-462a-b8da-011b7ce7d13f",
            "--duration-ms",
            "250",
        ]) else {
            panic!("not poll-latency");
        };
        assert!(p.job.is_some());
        assert_eq!(p.duration, Duration::from_millis(250));
    }

    #[test]
    fn help_wins() {
        assert!(matches!(parse_ok(&["--help"]), Command::Help));
        assert!(matches!(parse_ok(&["provision", "--help"]), Command::Help));
    }
}
