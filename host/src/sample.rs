//! The demo's generated posts, shaped like seed 000's: a known share invalid, a known share
//! repeating an id. `weir demo`, `weir generate`, the benchmarks and the tests all use them.

/// Body text that brings a valid post to about 200 bytes, the size the benchmarks use.
const SELFTEXT: &str = "Streaming posts into a lakehouse with sandboxed plugins";

const SUBREDDITS: [&str; 8] = [
    "rust",
    "dataengineering",
    "golang",
    "python",
    "kafka",
    "datascience",
    "sql",
    "linux",
];

/// What the generated dataset holds, to compare with the tables.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    pub records: usize,
    pub invalid: usize,
    pub duplicates: usize,
}

impl Dataset {
    pub fn silver_rows(&self) -> usize {
        self.records - self.invalid - self.duplicates
    }
}

/// Post `i` of the demo dataset: every 25th is invalid (four kinds in turn), every 50th (offset
/// by 10) repeats the previous post's id.
pub fn post(i: usize) -> (String, String, Option<&'static str>) {
    let id = if i % 50 == 10 { i - 1 } else { i };
    let subreddit = SUBREDDITS[i % SUBREDDITS.len()];
    let score = (i * 37) % 5000;
    let created = 1_700_000_000 + i as u64 * 97;
    let key = format!("t3_{id:07}");
    let invalid = if i % 25 == 3 {
        Some(["negative score", "no author", "not JSON", "score as text"][(i / 25) % 4])
    } else {
        None
    };
    let value = match invalid {
        Some("negative score") => format!(
            r#"{{"id":"{key}","subreddit":"{subreddit}","author":"user_{}","title":"Post {i}","score":-{score},"created_utc":{created}}}"#,
            i % 500
        ),
        Some("no author") => format!(
            r#"{{"id":"{key}","subreddit":"{subreddit}","title":"Post {i}","score":{score},"created_utc":{created}}}"#
        ),
        Some("not JSON") => format!("id={key};subreddit={subreddit}"),
        Some(_) => format!(
            r#"{{"id":"{key}","subreddit":"{subreddit}","author":"user_{}","title":"Post {i}","score":"{score}","created_utc":{created}}}"#,
            i % 500
        ),
        None => format!(
            r#"{{"id":"{key}","subreddit":"{subreddit}","author":"user_{}","title":"Post {i} about {subreddit}","score":{score},"createdUtc":{created},"selftext":"{}"}}"#,
            i % 500,
            SELFTEXT
        ),
    };
    (key, value, invalid)
}

/// The counts of the first `n` posts.
pub fn dataset(n: usize) -> Dataset {
    let mut d = Dataset {
        records: n,
        ..Dataset::default()
    };
    for i in 0..n {
        let (_, _, invalid) = post(i);
        if invalid.is_some() {
            d.invalid += 1;
        } else if i % 50 == 10 && post(i - 1).2.is_none() {
            d.duplicates += 1;
        }
    }
    d
}
