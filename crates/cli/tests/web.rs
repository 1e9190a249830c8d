//! The web app in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`,
//! installed by scripts/test.sh) driven over WebDriver. A home with one audio meeting (three
//! voices) and one slide video is processed for real, `nightshift serve` serves it, and
//! `nightshift open --print` signs the browser in. Screenshots of the list, the audio meeting
//! and the video meeting are written under the target dir (the path is printed).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, THREE_CLIPS, corpus, joined_clips, stdout};
use serde_json::{Value, json};

/// A stopped-on-drop child process.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The smallest WebDriver client the test needs (W3C protocol, JSON over HTTP).
struct Browser {
    base: String,
    session: String,
    _driver: Proc,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                Path::new(bin).exists(),
                "{bin} not found: install Debian's chromium and chromium-driver (scripts/test.sh does)"
            );
        }
        let port = free_port();
        let driver = Proc(
            Command::new("/usr/bin/chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        let base = format!("http://127.0.0.1:{port}");
        wait_for("chromedriver answering", Duration::from_secs(20), || {
            ureq::get(&format!("{base}/status")).call().is_ok()
        });
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}});
        let v: Value = ureq::post(&format!("{base}/session"))
            .send_json(caps)
            .expect("a Chromium session starts")
            .into_json()
            .unwrap();
        let session = v["value"]["sessionId"].as_str().unwrap().to_string();
        Browser {
            base,
            session,
            _driver: driver,
            _profile: profile,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let req = ureq::request(method, &url);
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match res {
            Ok(r) => r.into_json::<Value>().unwrap()["value"].clone(),
            Err(ureq::Error::Status(code, r)) => {
                panic!(
                    "WebDriver {method} {path}: {code} {}",
                    r.into_string().unwrap()
                )
            }
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        }
    }

    fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url})));
    }

    fn url(&self) -> String {
        self.call("GET", "/url", None).as_str().unwrap().to_string()
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }

    fn count(&self, css: &str) -> usize {
        self.call(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .map_or(0, Vec::len)
    }

    fn click(&self, css: &str) {
        let el = self.find(css);
        self.call("POST", &format!("/element/{el}/click"), Some(json!({})));
    }

    fn clear_and_type(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.call("POST", &format!("/element/{el}/clear"), Some(json!({})));
        self.call(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        );
    }

    fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn js_async(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn text(&self, css: &str) -> String {
        let el = self.find(css);
        self.call("GET", &format!("/element/{el}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn screenshot(&self, path: &Path) {
        use base64_png::decode;
        let b64 = self.call("GET", "/screenshot", None);
        std::fs::write(path, decode(b64.as_str().unwrap())).unwrap();
    }

    fn cookie(&self) -> String {
        let all = self.call("GET", "/cookie", None);
        all.as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{}={}",
                    c["name"].as_str().unwrap(),
                    c["value"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
    }
}

/// Base64 (standard alphabet) → bytes, for WebDriver's screenshots.
mod base64_png {
    pub fn decode(s: &str) -> Vec<u8> {
        let val = |c: u8| -> Option<u32> {
            Some(match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            } as u32)
        };
        let mut out = Vec::with_capacity(s.len() * 3 / 4);
        let (mut acc, mut bits) = (0u32, 0);
        for v in s.bytes().filter_map(val) {
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }
}

fn screenshots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The processed home (audio meeting with three voices + slide video) and the daemon.
struct App {
    env: Env,
    _daemon: Proc,
    addr: String,
    audio: String,
    video: String,
}

impl App {
    fn start() -> App {
        let env = Env::new();
        let audio = env.add(&joined_clips(env.dir.path(), &THREE_CLIPS));
        let video = env.add(&corpus("video/video_01_slides.mp4"));
        env.run_until_idle();
        let daemon = Proc(
            env.cmd()
                .args(["serve", "--listen", "127.0.0.1:0"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let info = env.home().join("run/daemon.json");
        let mut addr = String::new();
        wait_for("the daemon's address", Duration::from_secs(20), || {
            let v: Option<Value> = std::fs::read_to_string(&info)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            if let Some(a) = v.as_ref().and_then(|v| v["addr"].as_str()) {
                addr = a.to_string();
            }
            !addr.is_empty()
        });
        App {
            env,
            _daemon: daemon,
            addr,
            audio,
            video,
        }
    }

    /// A fresh one-time sign-in link from `nightshift open --print`.
    fn open_link(&self) -> String {
        let out = self.env.run(&["open", "--print"]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let link = stdout(&out).trim().to_string();
        assert!(
            link.starts_with(&format!("http://{}/open?code=", self.addr)),
            "{link}"
        );
        link
    }

    fn show(&self, id: &str) -> Value {
        self.env.json(&["show", id, "--format", "json"])
    }
}

fn current_time(b: &Browser) -> f64 {
    b.js("return document.getElementById('player').currentTime;")
        .as_f64()
        .unwrap()
}

#[test]
fn the_web_app_lists_plays_renames_searches_and_refuses_other_sites() {
    let app = App::start();
    let b = Browser::start();
    let shots = screenshots_dir();

    // Signed out: the app says how to get in, and shows nothing.
    b.goto(&format!("http://{}/", app.addr));
    assert_eq!(b.count("#meetings"), 0);
    assert!(b.text("h1").contains("Open nightshift"), "{}", b.text("h1"));

    // The one-time link signs in; a second use does not.
    let link = app.open_link();
    b.goto(&link);
    assert_eq!(b.url(), format!("http://{}/", app.addr));
    assert_eq!(b.count("tr[data-meeting]"), 2);
    b.screenshot(&shots.join("list.png"));

    // List → meeting → a transcript line: the player jumps to its start.
    b.click(&format!("tr[data-meeting=\"{}\"] a", app.audio));
    assert!(
        b.url().ends_with(&format!("/m/{}", app.audio)),
        "{}",
        b.url()
    );
    let lines = b.count("#transcript li[data-start]");
    assert!(lines >= 2, "transcript lines: {lines}");
    let pick = lines.min(3);
    let css = format!("#transcript li:nth-child({pick}) button.t");
    let start: f64 = b
        .js(&format!(
            "return parseFloat(document.querySelector('#transcript li:nth-child({pick})').dataset.start);"
        ))
        .as_f64()
        .unwrap();
    assert!(start > 0.0);
    b.click(&css);
    let t = current_time(&b);
    assert!(
        (t - start).abs() < 0.3,
        "player at {t}, line starts at {start}"
    );
    // The line is marked as the current one.
    assert_eq!(
        b.js("return document.querySelector('#transcript li.current').dataset.start;"),
        json!(format!("{start:.2}"))
    );
    b.screenshot(&shots.join("meeting-audio.png"));

    // Rename a speaker in place: the transcript shows the new name after a reload, and so
    // does `show`.
    let speakers = b.count("form.rename");
    assert!(speakers >= 1, "speakers: {speakers}");
    b.clear_and_type("form.rename input[name=name]", "Ada Lovelace");
    b.click("form.rename button[type=submit]");
    // The form posts and the browser follows the redirect; wait for the rename to be stored
    // before reloading (a navigation now would cancel the post).
    wait_for("the rename to be stored", Duration::from_secs(20), || {
        app.show(&app.audio)["speakers"]
            .to_string()
            .contains("Ada Lovelace")
    });
    b.goto(&b.url());
    let names: Value = b.js(
        "return Array.from(document.querySelectorAll('#transcript .who')).map(e => e.textContent);",
    );
    assert!(
        names
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "Ada Lovelace"),
        "{names} at {}: {}",
        b.url(),
        b.text("main")
    );
    let doc = app.show(&app.audio);
    assert!(
        doc["speakers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "Ada Lovelace"),
        "{}",
        doc["speakers"]
    );

    // Search → hit → the meeting opens at the hit's time.
    // The transcript's longest word (no stop word is that long).
    let word = doc["segments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["text"].as_str().unwrap().split_whitespace())
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .max_by_key(|w| w.len())
        .expect("a word in the transcript");
    b.goto(&format!("http://{}/search?q={word}", app.addr));
    assert!(b.count("#hits a.hit") >= 1, "no hit for {word:?}");
    b.click("#hits li:first-child a.hit");
    let url = b.url();
    let at: f64 = url
        .split("?t=")
        .nth(1)
        .unwrap_or_else(|| panic!("hit link without a time: {url}"))
        .parse()
        .unwrap();
    let t = current_time(&b);
    assert!((t - at).abs() < 0.3, "opened at {t}, hit at {at}");

    // The video meeting: player, scenes with keyframes and their on-screen text.
    b.goto(&format!("http://{}/m/{}", app.addr, app.video));
    assert_eq!(b.count("video#player"), 1);
    assert!(b.count("ol.scenes li.scene img") >= 2);
    let loaded: Value = b.js_async(
        "const done = arguments[arguments.length - 1];
         const img = document.querySelector('ol.scenes img');
         if (img.complete) done(img.naturalWidth); else img.onload = () => done(img.naturalWidth);",
    );
    assert!(loaded.as_u64().unwrap() > 0, "keyframe image loads");
    b.screenshot(&shots.join("meeting-video.png"));

    // Downloads carry every export format.
    let cookie = b.cookie();
    for fmt in ["md", "txt", "srt", "vtt", "json"] {
        let r = ureq::get(&format!("http://{}/m/{}/export/{fmt}", app.addr, app.audio))
            .set("Cookie", &cookie)
            .call()
            .unwrap();
        assert!(
            r.header("content-disposition")
                .unwrap()
                .contains(&format!(".{fmt}"))
        );
        assert!(!r.into_string().unwrap().is_empty());
    }

    // Another site's page: it cannot read the list (no CORS), and its rename is refused.
    // http://localhost:PORT is another origin (and site) than http://127.0.0.1:PORT.
    b.goto(&format!(
        "http://localhost:{}/",
        app.addr.rsplit(':').next().unwrap()
    ));
    let read = b.js_async(&format!(
        "const done = arguments[arguments.length - 1];
         fetch('http://{addr}/api/meetings', {{credentials: 'include'}})
           .then(r => r.text().then(t => done('read ' + r.status + ' ' + t.length)))
           .catch(e => done('blocked'));",
        addr = app.addr
    ));
    assert_eq!(read, json!("blocked"));
    let label = doc["speakers"][0]["label"].as_str().unwrap().to_string();
    b.js_async(&format!(
        "const done = arguments[arguments.length - 1];
         fetch('http://{addr}/m/{id}/speakers', {{method: 'POST', mode: 'no-cors',
           credentials: 'include', headers: {{'Content-Type': 'application/x-www-form-urlencoded'}},
           body: 'label={label}&name=Mallory'}}).then(() => done(1)).catch(() => done(0));",
        addr = app.addr,
        id = app.audio,
    ));
    let names = app.show(&app.audio)["speakers"].to_string();
    assert!(!names.contains("Mallory"), "{names}");
    // The same with the session cookie, from outside a browser: a foreign Origin is refused.
    let refused = ureq::post(&format!("http://{}/m/{}/speakers", app.addr, app.audio))
        .set("Cookie", &cookie)
        .set("Origin", "http://evil.example")
        .send_form(&[("label", &label), ("name", "Mallory")]);
    assert!(matches!(refused, Err(ureq::Error::Status(403, _))));
    let api = ureq::get(&format!("http://{}/api/meetings", app.addr))
        .set("Cookie", &cookie)
        .set("Origin", "http://evil.example")
        .call();
    assert!(matches!(api, Err(ureq::Error::Status(403, _))));
    // The link cannot be used twice.
    let again = ureq::get(&link).call();
    assert!(matches!(again, Err(ureq::Error::Status(403, _))));
    eprintln!("screenshots in {}", shots.display());
}
