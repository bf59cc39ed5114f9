use std::process::Command;

fn main() {
    // sqlx::migrate! embeds the migrations at compile time but cannot see a file added later.
    println!("cargo:rerun-if-changed=../migrations");
    // The commit built, for the `chat_build_info` metric: "unknown" outside a git checkout
    // (a source archive, an image built without .git).
    println!(
        "cargo:rustc-env=CHAT_GIT_COMMIT={}",
        git(&["rev-parse", "--short=7", "HEAD"]).as_deref().unwrap_or("unknown")
    );
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        // HEAD moves on a checkout, the branch's ref (loose, or packed) on a commit.
        for moved in ["HEAD", "refs/heads", "packed-refs"] {
            println!("cargo:rerun-if-changed={git_dir}/{moved}");
        }
    }
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    output.status.success().then(|| text.trim().to_owned())
}
