//! End to end for S3 arrival expectations (`[[arrivals]]`, docs/deadlines.md): moto (as S3,
//! objects put by the test; LastModified is the put time) → the bridge binary → rotel.
//!
//! Deadlines are relative to the wall clock in UTC (daily), and the prefixes are filled by the
//! test with the UTC date of each deadline, so the test holds at any time of day.

mod common;

use common::{bridge, write_config, Collector, Moto, Received};

fn state(r: &Received, arrival: &str, period: &str, state: &str) -> f64 {
    let p = r.points(
        "pipeline_bridge.arrival.state",
        &[
            ("pipeline_bridge.arrival", arrival),
            ("period", period),
            ("state", state),
        ],
    );
    assert_eq!(p.len(), 1, "{arrival} {period} {state}: {p:?}");
    p[0].value
}

#[test]
fn arrivals_on_time_late_missing_and_listed_no_more_than_needed() {
    let moto = Moto::start_empty();
    let col = Collector::start();
    // `future`: a deadline in 2 h; `past`: one 10 min ago (whole minutes), as "HH:MM" UTC and
    // the date prefix each belongs to.
    let out = moto.python(
        "s3 = client('s3')\n\
         s3.create_bucket(Bucket='landing')\n\
         now = int(time.time())\n\
         past = (now - 600) // 60 * 60\n\
         future = (now + 7200) // 60 * 60\n\
         day = lambda t: time.strftime('%Y/%m/%d', time.gmtime(t))\n\
         hm = lambda t: time.strftime('%H:%M', time.gmtime(t))\n\
         s3.put_object(Bucket='landing', Key='partner/' + day(future) + '/orders.csv', Body=b'x')\n\
         s3.put_object(Bucket='landing', Key='feed/late/' + day(past) + '/data.json', Body=b'x')\n\
         s3.put_object(Bucket='landing', Key='unrelated/' + day(future) + '/x', Body=b'x')\n\
         lm = s3.head_object(Bucket='landing', Key='feed/late/' + day(past) + '/data.json')['LastModified'].timestamp()\n\
         print(now, past, future, hm(past), hm(future), int(lm))\n",
    );
    let f: Vec<&str> = out.split_whitespace().collect();
    let num = |i: usize| f[i].parse::<f64>().unwrap();
    let (past, future, by_past, by_future, late_lm) = (num(1), num(2), f[3], f[4], num(5));
    assert!(late_lm > past, "the late object came after its deadline");

    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "poll_interval = \"1s\"\n[step_functions]\nenabled = false\n\
             [[arrivals]]\nname = \"partner orders\"\nurl = \"s3://landing/partner/{{yyyy}}/{{mm}}/{{dd}}/\"\nby = \"{by_future}\"\nteam = \"orders\"\n\
             [[arrivals]]\nname = \"partner refunds\"\nurl = \"s3://landing/refunds/{{yyyy}}/{{mm}}/{{dd}}/\"\nby = \"{by_future}\"\n\
             [[arrivals]]\nname = \"feed missed\"\nurl = \"s3://landing/feed/missed/{{yyyy}}/{{mm}}/{{dd}}/\"\nby = \"{by_past}\"\ntime_zone = \"UTC\"\n\
             [[arrivals]]\nname = \"feed late\"\nurl = \"s3://landing/feed/late/{{yyyy}}/{{mm}}/{{dd}}/\"\nby = \"{by_past}\"\n\
             [[arrivals]]\nname = \"ghost\"\nurl = \"s3://no-such-bucket/x/{{date}}/\"\nby = \"{by_past}\"\n"
        ),
    );
    let (cfg, state_dir) = (
        cfg.to_str().unwrap().to_string(),
        dir.path().join("state").to_str().unwrap().to_string(),
    );
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    let m = col.mark();
    let out = bridge(
        &[
            "run", "--cycles", "2", "--config", &cfg, "--state", &state_dir,
        ],
        &env,
    );
    // The ghost bucket's listings fail: AWS errors, the cycles go on.
    assert_eq!(out.status.code(), Some(3), "exit status 3: AWS errors");
    let r = col.received_since(m);

    // On time: the object is under the next deadline's date, in its window.
    assert_eq!(state(&r, "partner orders", "next", "met"), 1.0);
    assert_eq!(state(&r, "partner orders", "next", "pending"), 0.0);
    // … and its previous day's prefix is empty: missed.
    assert_eq!(state(&r, "partner orders", "previous", "missed"), 1.0);
    // Missing, not due yet: pending.
    assert_eq!(state(&r, "partner refunds", "next", "pending"), 1.0);
    // Missing and due 10 min ago: missed, counted once.
    assert_eq!(state(&r, "feed missed", "previous", "missed"), 1.0);
    assert_eq!(state(&r, "feed missed", "previous", "late"), 0.0);
    let missed = |name: &str| {
        r.sum(
            "pipeline_bridge.arrival.missed",
            &[("pipeline_bridge.arrival", name)],
        )
    };
    assert_eq!(missed("feed missed"), 1.0);
    assert_eq!(
        missed("partner refunds"),
        1.0,
        "its previous day missed too"
    );
    // Late: the object came after the deadline; its time is the last arrival.
    assert_eq!(state(&r, "feed late", "previous", "late"), 1.0);
    assert_eq!(state(&r, "feed late", "previous", "missed"), 0.0);
    assert_eq!(missed("feed late"), 1.0);
    let last = |name: &str| {
        r.points(
            "pipeline_bridge.arrival.last.timestamp",
            &[("pipeline_bridge.arrival", name)],
        )
        .first()
        .map(|p| p.value)
    };
    assert_eq!(last("feed late"), Some(late_lm));
    assert_eq!(last("feed missed"), None, "nothing arrived");
    let next = r.points(
        "pipeline_bridge.arrival.next.timestamp",
        &[("pipeline_bridge.arrival", "partner orders")],
    );
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].value, future);
    for (k, v) in [
        ("aws.s3.bucket", "landing"),
        ("cloud.account.id", "123456789012"),
        ("cloud.region", "us-east-1"),
        ("team", "orders"),
    ] {
        assert_eq!(next[0].attrs.get(k).map(String::as_str), Some(v), "{k}");
    }

    // Calls: per cycle one listing of the next date's prefix until an object in the window is
    // found, and one of the previous date's while it is missed and nothing came late.
    // Cycle 1: 2 per arrival (5 arrivals; the ghost's fail). Cycle 2: partner orders found its
    // object (1: the previous day), feed late saw its late object (1: the next day), the
    // others 2 each.
    let calls = |outcome: &str| {
        r.sum(
            "pipeline_bridge.aws.api.calls",
            &[
                ("aws.service", "s3"),
                ("aws.operation", "ListObjectsV2"),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(calls("success"), 8.0 + 6.0);
    assert_eq!(calls("error"), 4.0);
    assert_eq!(
        r.sum(
            "cicd.system.errors",
            &[
                ("cicd.system.component", "s3"),
                ("error.type", "NoSuchBucket")
            ]
        ),
        4.0
    );
}
