//! Hostile test plugin: a well-formed component that implements some other world. Weir must
//! refuse it with a clear error naming what is missing.

wit_bindgen::generate!({ world: "greeter", path: "wit" });

struct Greeter;

impl Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello {name}")
    }
}

export!(Greeter);
