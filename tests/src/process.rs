//! Servers a test owns: started on a free loopback port, killed with
//! SIGKILL and started again on the same port and data, so a test can take
//! a store down without disturbing the shared servers other tests use.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A free TCP port on loopback.
///
/// # Panics
///
/// When no port can be bound.
#[must_use]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

/// What to run, as whom.
#[derive(Debug, Clone)]
struct Recipe {
    program: PathBuf,
    args: Vec<String>,
    /// Run as this user when we are root (PostgreSQL refuses root).
    user: Option<&'static str>,
}

impl Recipe {
    fn command(&self) -> Command {
        let mut command = match self.user {
            Some(user) if running_as_root() => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&self.program);
                command
            }
            _ => Command::new(&self.program),
        };
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // its own process group, so a kill reaches every process it forks
            .process_group(0);
        command
    }
}

/// A server process a test started.
#[derive(Debug)]
pub struct OwnServer {
    name: &'static str,
    recipe: Recipe,
    port: u16,
    child: Option<Child>,
    _data: Option<TempDir>,
}

impl OwnServer {
    /// A redis-server without persistence (a restart comes back empty).
    ///
    /// # Panics
    ///
    /// When it does not listen within seconds.
    #[must_use]
    pub fn redis(bin: &str) -> Self {
        let port = free_port();
        let args = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        Self::start(
            "redis",
            bin.into(),
            args.map(String::from).to_vec(),
            None,
            port,
            None,
        )
    }

    /// A memcached with a 2 MiB item limit (a restart comes back empty).
    ///
    /// # Panics
    ///
    /// When it does not listen within seconds.
    #[must_use]
    pub fn memcached(bin: &str) -> Self {
        let port = free_port();
        let args = [
            "-l",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "0",
            "-m",
            "32",
            "-I",
            "2m",
            "-u",
            "root",
        ];
        Self::start(
            "memcached",
            bin.into(),
            args.map(String::from).to_vec(),
            None,
            port,
            None,
        )
    }

    /// A PostgreSQL cluster of its own (initdb into a temporary directory,
    /// trust authentication for `postgres`); a restart keeps its data.
    ///
    /// # Panics
    ///
    /// When initdb fails or the server does not listen within seconds.
    #[must_use]
    pub fn postgres(bin_dir: &str) -> Self {
        let data = TempDir::new("postgres");
        if running_as_root() {
            Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&data.0)
                .status()
                .unwrap();
        }
        let bin = PathBuf::from(bin_dir);
        let initdb = Recipe {
            program: bin.join("initdb"),
            args: vec![
                "-D".into(),
                data.0.display().to_string(),
                "-U".into(),
                "postgres".into(),
                "--auth=trust".into(),
                "-E".into(),
                "UTF8".into(),
            ],
            user: Some("postgres"),
        };
        let status = initdb.command().status().unwrap();
        assert!(status.success(), "initdb failed");
        let port = free_port();
        let args = vec![
            "-D".into(),
            data.0.display().to_string(),
            "-p".into(),
            port.to_string(),
            "-k".into(),
            data.0.display().to_string(),
            "-c".into(),
            "listen_addresses=127.0.0.1".into(),
            "-c".into(),
            "fsync=off".into(),
        ];
        Self::start(
            "postgres",
            bin.join("postgres"),
            args,
            Some("postgres"),
            port,
            Some(data),
        )
    }

    fn start(
        name: &'static str,
        program: PathBuf,
        args: Vec<String>,
        user: Option<&'static str>,
        port: u16,
        data: Option<TempDir>,
    ) -> Self {
        let mut server = Self {
            name,
            recipe: Recipe {
                program,
                args,
                user,
            },
            port,
            child: None,
            _data: data,
        };
        server.restart();
        server
    }

    /// The port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it with SIGKILL, every process of it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
            // the signal is delivered, not yet acted on: until the kernel
            // tears the processes down their socket still accepts, and a
            // test would find the server up right after killing it
            for _ in 0..200 {
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // a killed PostgreSQL leaves its postmaster.pid, naming a process
        // that, reparented to an init that does not reap (a container),
        // stays a zombie the next start takes for a running server: every
        // process of it is gone, so the lock goes too (crash recovery
        // follows)
        if let Some(data) = &self._data {
            let _ = std::fs::remove_file(data.0.join("postmaster.pid"));
            let socket_lock = format!(".s.PGSQL.{}.lock", self.port);
            let _ = std::fs::remove_file(data.0.join(socket_lock));
        }
    }

    /// Starts it again on the same port (and data), waiting until it
    /// accepts connections.
    ///
    /// # Panics
    ///
    /// When it does not listen within ten seconds.
    pub fn restart(&mut self) {
        self.kill();
        self.child = Some(self.recipe.command().spawn().unwrap());
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} did not listen on {}", self.name, self.port);
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A directory removed on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "sessionkit-{what}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// This test binary run again as an app's instance (a test target without
/// libtest, whose `main` serves when `var` is set), on a free port given
/// in `SESSIONKIT_INSTANCE_PORT`; killed on drop.
#[derive(Debug)]
pub struct Instance {
    port: u16,
    child: Child,
}

impl Instance {
    /// Starts it with `var` set to `spec`, and waits until it listens.
    ///
    /// # Panics
    ///
    /// When it does not listen within 20 seconds.
    pub async fn start(var: &str, spec: &str) -> Self {
        let port = free_port();
        let child = Command::new(std::env::current_exe().unwrap())
            .env(var, spec)
            .env("SESSIONKIT_INSTANCE_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "instance {spec} did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { port, child }
    }

    /// The port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port an instance was given, in the instance.
    ///
    /// # Panics
    ///
    /// Outside an instance.
    #[must_use]
    pub fn own_port() -> u16 {
        std::env::var("SESSIONKIT_INSTANCE_PORT")
            .expect("started by Instance::start")
            .parse()
            .unwrap()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `main` of a test target without libtest that runs itself as an
/// app's instances: with `var` set it is an instance (`instance` serves
/// until killed); else it runs `scenarios` as the one test `name`
/// (filters and `--list` as libtest takes them) and prints what libtest
/// prints, so the suite's summary counts it. A panic fails the target.
pub fn fleet_test_main<F: std::future::Future<Output = ()>>(
    name: &str,
    var: &str,
    instance: impl FnOnce(&str),
    scenarios: impl FnOnce() -> F,
) {
    if let Ok(spec) = std::env::var(var) {
        instance(&spec);
        std::process::exit(0);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("{name}: test");
        return;
    }
    if args
        .iter()
        .any(|a| !a.starts_with('-') && !name.contains(a.as_str()))
    {
        return;
    }
    let started = std::time::Instant::now();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(scenarios());
    println!("test {name} ... ok");
    println!(
        "\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {:.2}s\n",
        started.elapsed().as_secs_f64()
    );
}
