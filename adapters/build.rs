// sqlx::migrate! embeds the migrations at compile time but cannot see a file added later.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
