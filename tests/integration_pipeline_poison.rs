//! Poison records against a real Kafka-protocol broker (tansu) and `weir run` as a process:
//! among good posts, messages with a header name that is not UTF-8, a header value that is not
//! UTF-8, no key and no value, and a 100 KiB header. The host never exits; bronze holds every
//! message, quarantine the malformed ones with their reason, silver the good posts.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::time::{Duration, Instant};

use arrow::array::AsArray;
use common::pipeline::{copy_posts_pipeline, origins, sigterm, silver_ids, strip_gold, tables_reached};
use common::services::Tansu;
use common::weir_run::WeirRun;
use rdkafka::message::{BorrowedHeaders, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use weir::cli::demo;
use weir::config::{self, TableFormat};
use weir::pipeline::Tables;

const GOOD: usize = 300;

/// Counts failed deliveries, with their errors.
#[derive(Default)]
struct Delivery(std::sync::Mutex<Vec<String>>);

impl rdkafka::ClientContext for Delivery {}

impl rdkafka::producer::ProducerContext for Delivery {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0.lock().unwrap().push(e.to_string());
        }
    }
}

/// Headers with a name of raw bytes. rdkafka's API takes names as `&str`, so this goes through
/// librdkafka's C call, which takes any bytes (as other producers may send).
fn raw_header(name: &[u8], value: &[u8]) -> OwnedHeaders {
    let headers = OwnedHeaders::new();
    // `as_borrowed` is a view of the same native list; librdkafka owns its memory.
    let native = headers.as_borrowed() as *const BorrowedHeaders as *mut rdkafka::bindings::rd_kafka_headers_t;
    #[allow(unsafe_code)]
    // SAFETY: `native` is the live header list of `headers`; librdkafka copies name and value.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_header_add(
            native,
            name.as_ptr().cast(),
            name.len() as isize,
            value.as_ptr().cast(),
            value.len() as isize,
        )
    };
    assert_eq!(err, rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR);
    headers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_land_in_bronze_and_quarantine_and_never_stop_the_pipeline() {
    let tansu = Tansu::start();
    tansu.create_topic("posts", 1);
    let brokers = tansu.brokers();
    let producer: BaseProducer<Delivery> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("message.max.bytes", "2000000")
        .create_with_context(Delivery::default())
        .unwrap();
    let huge = "h".repeat(100 << 10);
    let mut poison = 0;
    let mut good = 0;
    for i in 0..GOOD {
        let (key, value, invalid) = demo::post(i * 25 + 1); // never an invalid or repeated post
        assert!(invalid.is_none());
        let record = BaseRecord::to("posts").key(&key).payload(&value);
        let record = match i % 50 {
            7 => record.headers(raw_header(&[0xff, 0xfe, b'x'], b"v")),
            17 => record.headers(raw_header(b"trace", &[0xc3, 0x28])),
            27 => record.headers(OwnedHeaders::new().insert(rdkafka::message::Header {
                key: "big",
                value: Some(huge.as_str()),
            })),
            _ => record,
        };
        producer.send(record).map_err(|(e, _)| e).unwrap();
        if i % 50 == 27 {
            // Alone in its produce request: a broker may refuse a large batch as a whole.
            producer.flush(Duration::from_secs(30)).unwrap();
        }
        good += 1;
        if i % 50 == 37 {
            // No key and no value.
            producer
                .send(BaseRecord::<(), ()>::to("posts"))
                .map_err(|(e, _)| e)
                .unwrap();
            poison += 1;
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let failed = producer.context().0.lock().unwrap().clone();
    assert!(failed.is_empty(), "{} not delivered: {failed:?}", failed.len());
    let bad_names = (0..GOOD).filter(|i| i % 50 == 7).count();

    let work = tempfile::tempdir().unwrap();
    let pipelines = copy_posts_pipeline(
        &work.path().join("pipelines"),
        &[("max_interval_ms = 5000", "max_interval_ms = 300")],
    );
    strip_gold(&pipelines);
    let lakehouse = work.path().join("lakehouse");
    let log = work.path().join("weir.log");
    let mut host = WeirRun::new(&pipelines, &brokers)
        .lake(&lakehouse, &lakehouse.join("cache"))
        .env("POSTS_GROUP", "poison")
        .log_to(&log)
        .spawn();

    let vars = [
        ("KAFKA_BROKERS".to_string(), brokers.clone()),
        ("WEIR_LAKEHOUSE".to_string(), lakehouse.display().to_string()),
    ]
    .into();
    let pipeline = config::load(&pipelines.join("posts/pipeline.toml"), &config::from_map(&vars)).unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = host.try_wait().unwrap() {
            panic!(
                "weir exited ({status}); log:\n{}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        if let Ok(mut tables) = Tables::open(&pipeline).await
            && tables_reached(&mut tables, "posts", 1, (good + poison) as i64).await
        {
            let mut complete = true;
            for format in [TableFormat::Delta, TableFormat::Iceberg] {
                complete &= origins(&tables.bronze.read(format).await.unwrap()).len() == good + poison;
            }
            if complete {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "tables not complete after 300 s; log:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sigterm(&mut host);
    assert!(host.wait().unwrap().success(), "weir stopped cleanly");

    let tables = Tables::open(&pipeline).await.unwrap();
    for format in [TableFormat::Delta, TableFormat::Iceberg] {
        let bronze = tables.bronze.read(format).await.unwrap();
        assert_eq!(
            origins(&bronze).len(),
            good + poison,
            "{format:?} bronze: every message"
        );
        let headers: Vec<String> = bronze
            .iter()
            .flat_map(|b| {
                let h = b.column_by_name("headers").unwrap().as_string::<i32>();
                h.iter().flatten().map(str::to_string).collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(
            headers.iter().filter(|h| h.contains("\u{fffd}\u{fffd}x")).count(),
            bad_names,
            "{format:?} bronze keeps the bad names, lossy"
        );
        assert!(
            headers.iter().any(|h| h.len() > 100 << 10),
            "{format:?}: the huge header"
        );
        let quarantine = tables.quarantine.read(format).await.unwrap();
        let mut reasons = Vec::new();
        for batch in &quarantine {
            let why = batch.column_by_name("reason").unwrap().as_string::<i32>();
            reasons.extend(why.iter().flatten().map(str::to_string));
        }
        let not_utf8 = reasons.iter().filter(|r| r.contains("name is not UTF-8")).count();
        let no_value = reasons.iter().filter(|r| r.contains("no value")).count();
        assert_eq!(not_utf8, bad_names, "{format:?} quarantine: {reasons:?}");
        assert_eq!(no_value, poison, "{format:?} quarantine: {reasons:?}");
        assert_eq!(reasons.len(), bad_names + poison, "{format:?} quarantine: {reasons:?}");
        let ids = silver_ids(&tables.silver[0].read(format).await.unwrap());
        assert_eq!(ids.len(), good - bad_names, "{format:?} silver: the good posts");
        for i in (0..GOOD).filter(|i| i % 50 == 27 || i % 50 == 17) {
            let (key, _, _) = demo::post(i * 25 + 1);
            assert!(
                ids.contains(&key),
                "{format:?} silver: {key}, with a big or binary header"
            );
        }
    }
}
