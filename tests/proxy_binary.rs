//! The built program: configuration checks, exit codes, JSON logs and draining on SIGTERM.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use netbox_secrets_proxy::error::EXIT_CONFIG;
use support::{body_bytes, request, send, FakeNetBox};

const BIN: &str = env!("CARGO_BIN_EXE_netbox-secrets-proxy");

fn program(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command.env_clear().args(args).envs(env.iter().copied());
    command
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    program(args, env).output().unwrap()
}

#[test]
fn check_config_prints_defaults_and_masks_secrets() {
    let output = run(
        &["check-config", "--upstream", "http://127.0.0.1:8001"],
        &[("NBSP_AUTH_SERVICE_TOKEN", "service-token-value-77")],
    );

    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("listen = \"127.0.0.1:8080\""), "{stdout}");
    assert!(stdout.contains("data_dir = \"data\""), "{stdout}");
    assert!(
        stdout.contains("database = \"data/secrets.sqlite3\""),
        "{stdout}"
    );
    assert!(stdout.contains("service_token = \"********\""), "{stdout}");
    assert!(!stdout.contains("service-token-value-77"), "{stdout}");
}

#[test]
fn check_config_reads_the_file_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy.toml");
    let text = "upstream = \"http://127.0.0.1:8001\"\nlisten = \"127.0.0.1:9000\"\n\
                [[policy.grants]]\ngroups = [\"operators\"]\nactions = [\"view\"]\nmodels = [\"secret\"]\n";
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap();

    let output = run(
        &[
            "--config",
            path,
            "check-config",
            "--listen",
            "127.0.0.1:9001",
        ],
        &[],
    );

    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("listen = \"127.0.0.1:9001\""), "{stdout}");
    assert!(stdout.contains("[[policy.grants]]"), "{stdout}");
}

#[test]
fn example_configuration_is_valid() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/netbox-secrets-proxy.example.toml"
    );

    let output = run(&["--config", path, "check-config"], &[]);

    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
}

#[test]
fn bad_value_stops_with_config_exit_code_naming_the_key() {
    let output = run(
        &[
            "serve",
            "--upstream",
            "http://127.0.0.1:8001",
            "--listen",
            "127.0.0.1:0",
        ],
        &[("NBSP_TIMEOUTS_CONNECT_SECS", "0")],
    );

    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        output.status.code(),
        Some(i32::from(EXIT_CONFIG)),
        "{stderr}"
    );
    assert!(stderr.contains("timeouts.connect_secs"), "{stderr}");
    assert!(stderr.contains("greater than 0"), "{stderr}");
}

#[test]
fn missing_upstream_stops_with_config_exit_code() {
    let output = run(&["check-config"], &[]);

    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        output.status.code(),
        Some(i32::from(EXIT_CONFIG)),
        "{stderr}"
    );
    assert!(stderr.contains("upstream"), "{stderr}");
}

/// Kills the child if a test fails before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Streams the child's JSON log lines to a channel.
fn log_lines(child: &mut Child) -> mpsc::Receiver<serde_json::Value> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let value: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("log line is not JSON: {line}"));
            if tx.send(value).is_err() {
                break;
            }
        }
    });
    rx
}

async fn wait_for_log(rx: &mpsc::Receiver<serde_json::Value>, message: &str) -> serde_json::Value {
    loop {
        let line = tokio::task::block_in_place(|| rx.recv_timeout(Duration::from_secs(60)))
            .unwrap_or_else(|_| panic!("no {message:?} log line"));
        if line["fields"]["message"] == message {
            return line;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_request_then_exits_zero() {
    let netbox = FakeNetBox::start().await;
    let mut child = program(
        &[
            "serve",
            "--upstream",
            &netbox.url(),
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ],
        &[],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let logs = log_lines(&mut child);
    let child = Running(child);

    let listening = wait_for_log(&logs, "listening").await;
    let addr = listening["fields"]["listen"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let pending = tokio::spawn(async move { send(addr, request("GET", "/fake/hold", "")).await });
    tokio::time::timeout(Duration::from_secs(60), netbox.arrived())
        .await
        .unwrap();

    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    wait_for_log(&logs, "shutdown signal received").await;
    wait_for_log(&logs, "stopped accepting connections; draining").await;
    netbox.release();

    let response = pending.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(body_bytes(response).await, "released");
    let mut child = child;
    let status = tokio::task::block_in_place(|| child.0.wait()).unwrap();
    assert_eq!(status.code(), Some(0));
    wait_for_log(&logs, "all connections finished").await;
}
