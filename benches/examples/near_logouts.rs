//! Two processes of one sessionkit configuration over the same Redis and
//! PostgreSQL (`load_server`, each with its own near caches): a session
//! logged in on the first is read on the second (which then holds it in
//! memory), logged out on the first, and the second is asked until it
//! refuses it. Prints how long that took: p50, p99 and the worst of `N`
//! logouts, as a markdown table row.
//!
//! ```sh
//! near_logouts LOAD_SERVER CONFIG PORT N   # two servers on PORT and PORT+1
//! ```

use std::process::{Child, Command};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection.
struct Client(TcpStream);

/// An answer: its `Set-Cookie` value (name=value), and its body.
struct Answer {
    cookie: Option<String>,
    body: String,
}

impl Client {
    async fn connect(port: u16) -> Self {
        for _ in 0..200 {
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await {
                stream.set_nodelay(true).expect("nodelay");
                return Self(stream);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nothing listens on {port}");
    }

    async fn send(&mut self, method: &str, path: &str, cookie: Option<&str>) -> Answer {
        let cookie = cookie.map_or_else(String::new, |c| format!("cookie: {c}\r\n"));
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 0\r\n{cookie}\r\n"
        );
        self.0.write_all(request.as_bytes()).await.expect("sends");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8];
            self.0.read_exact(&mut byte).await.expect("answers");
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).expect("a text head");
        let header = |name: &str| {
            head.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let length: usize = header("content-length").map_or(0, |l| l.parse().expect("a length"));
        let mut body = vec![0; length];
        self.0.read_exact(&mut body).await.expect("a body");
        Answer {
            cookie: header("set-cookie")
                .map(|c| c.split(';').next().unwrap_or_default().to_owned()),
            body: String::from_utf8(body).expect("a text body"),
        }
    }
}

/// A server process, killed when dropped: a failed run (a panic) leaves
/// no server behind on its port for the next one to talk to.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(bin: &str, config: &str, port: u16, share: bool) -> Server {
    let mut command = Command::new(bin);
    command.args([config, &port.to_string(), "two"]);
    if share {
        command.env("LOAD_SHARE_TABLES", "1");
    }
    command.stdout(std::process::Stdio::null());
    Server(command.spawn().expect("load_server starts"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bin, config, port, n] = args.as_slice() else {
        eprintln!("usage: near_logouts LOAD_SERVER CONFIG PORT N");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("a port");
    let n: usize = n.parse().expect("a count");
    let first = serve(bin, config, port, false);
    let mut a = Client::connect(port).await;
    // the second starts once the first made the tables
    let second = serve(bin, config, port + 1, true);
    let mut b = Client::connect(port + 1).await;
    let mut waits = Vec::with_capacity(n);
    for _ in 0..n {
        let cookie = a
            .send("POST", "/login", None)
            .await
            .cookie
            .expect("a cookie");
        for _ in 0..2 {
            assert_eq!(b.send("GET", "/read", Some(&cookie)).await.body, "1");
        }
        a.send("POST", "/logout", Some(&cookie)).await;
        let began = Instant::now();
        loop {
            if b.send("GET", "/read", Some(&cookie)).await.body == "0" {
                break;
            }
            assert!(began.elapsed() < Duration::from_secs(5), "never refused");
        }
        waits.push(began.elapsed());
    }
    drop((first, second));
    waits.sort();
    let at = |q: usize| waits[(waits.len() - 1) * q / 100];
    println!(
        "| {config} | {n} | {:.2} | {:.2} | {:.2} | {} |",
        at(50).as_secs_f64() * 1e3,
        at(99).as_secs_f64() * 1e3,
        waits[waits.len() - 1].as_secs_f64() * 1e3,
        if at(99) <= Duration::from_millis(10) {
            "yes"
        } else {
            "**no**"
        }
    );
}
