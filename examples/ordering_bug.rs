//! A classic async bug that FIFO scheduling hides: a check and an act with an `.await` between
//! them. Seeded scheduling finds it, and the seed replays it, trace and all.
//!
//! ```text
//! cargo run --example ordering_bug                        # FIFO, minirt's default: 100 runs, all fine
//! cargo run --example ordering_bug -- --explore 100       # 100 seeds in paused time: finds it, names the seed
//! MINIRT_TRACE=bad.json cargo run --example ordering_bug -- --seed N    # replay seed N, traced
//! cargo run --example ordering_bug -- --explore 100 --fixed             # the fix holds under every seed
//! ```
//!
//! **The bank.** An account holds 100. Two customers each withdraw 80. A withdrawal checks the
//! balance, asks the fraud service (a 2 ms round trip), and then debits. The second customer
//! first loads their session, also 2 ms. Under FIFO the first customer's fraud check and the
//! second one's session load end at the same instant, and the first customer, who asked first,
//! is served first: it debits, and the second customer's check sees 20 and is declined. Run it
//! a thousand times and it never goes wrong. But nothing in the code says the first must go
//! first: when the two timers fire in the other order (a busier machine, a slower network, or a
//! seed), the second customer checks 100, passes, and both debits go through: the balance ends
//! at -60.
//!
//! **Finding it.** `--explore N` runs the scenario under seeds 0 to N-1 with
//! [`minirt::test::explore`]: each run on a fresh runtime whose clock is paused (the 2 ms are
//! exact and take no real time) and whose scheduling choices come from the seed, including the
//! order in which timers due at one instant wake their tasks. It stops at the first seed that
//! overdraws and prints it. `--seed N` replays that seed: the same choices, the same output,
//! and with `MINIRT_TRACE` the same trace, byte for byte, to open in <https://ui.perfetto.dev>
//! beside a passing seed's (`docs/testing.md` walks through the two).
//!
//! **The fix** (`--fixed`): hold the account's lock from the check to the debit, so that no
//! other withdrawal can check in between (a re-check after the await would do as well).
//!
//! Exit status: 0 when every run kept the balance at or above zero, 1 when one overdrew it,
//! 2 on bad arguments. `tests/example_ordering_bug.rs` runs all four commands above.

use std::cell::Cell;
use std::io::Write;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use minirt::sync::Mutex;
use minirt::{Runtime, sleep};

/// A service call: the fraud check, or loading a session.
const ROUND_TRIP: Duration = Duration::from_millis(2);

struct Account {
    balance: Cell<i64>,
    /// Held from the check to the debit in the fixed version.
    lock: Mutex<()>,
}

/// Checks, asks the fraud service, debits: the bug is the `.await` between check and act.
async fn withdraw(account: &Account, amount: i64, fixed: bool) -> bool {
    let _held = if fixed {
        Some(account.lock.lock().await)
    } else {
        None
    };
    if account.balance.get() < amount {
        return false; // declined
    }
    sleep(ROUND_TRIP).await; // the fraud service
    account.balance.set(account.balance.get() - amount);
    true
}

/// Two customers, one account. Returns the final balance.
async fn scenario(fixed: bool) -> i64 {
    let account = Rc::new(Account {
        balance: Cell::new(100),
        lock: Mutex::new(()),
    });
    let atm = {
        let account = account.clone();
        minirt::spawn_named("atm", async move { withdraw(&account, 80, fixed).await })
    };
    let online = {
        let account = account.clone();
        minirt::spawn_named("online", async move {
            sleep(ROUND_TRIP).await; // load the session
            withdraw(&account, 80, fixed).await
        })
    };
    let (_, _) = (atm.await.unwrap(), online.await.unwrap());
    account.balance.get()
}

/// The scenario as a test body: it must never overdraw.
async fn never_overdraws(fixed: bool) {
    let balance = scenario(fixed).await;
    assert!(balance >= 0, "the account was overdrawn: balance {balance}");
}

fn out(text: std::fmt::Arguments<'_>) {
    // Not `println!`: a closed or full stdout must not make the demo panic.
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn usage() -> ExitCode {
    let _ = writeln!(
        std::io::stderr().lock(),
        "usage: ordering_bug [--explore N | --seed N] [--fixed]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fixed = args.iter().any(|a| a == "--fixed");
    let mut rest = args.iter().filter(|a| *a != "--fixed");
    let number = |value: Option<&String>| value.and_then(|v| v.parse::<u64>().ok());
    match (rest.next().map(String::as_str), rest.next()) {
        (None, _) => {
            // FIFO, minirt's default, in paused time: the same order every time.
            for run in 0..100 {
                let rt = Runtime::builder().start_paused(true).build().unwrap();
                let balance = rt.block_on(scenario(fixed));
                if balance < 0 {
                    out(format_args!("FIFO run {run}: overdrawn, balance {balance}"));
                    return ExitCode::from(1);
                }
            }
            out(format_args!(
                "FIFO: 100 runs, the balance never went below zero"
            ));
            ExitCode::SUCCESS
        }
        (Some("--explore"), seeds) => {
            let Some(seeds) = number(seeds) else {
                return usage();
            };
            match minirt::test::explore(0..seeds, || never_overdraws(fixed)) {
                Ok(()) => {
                    out(format_args!(
                        "{seeds} seeds: the balance never went below zero"
                    ));
                    ExitCode::SUCCESS
                }
                Err(failure) => {
                    out(format_args!(
                        "seed {}: {}\nreplay it: cargo run --example ordering_bug -- --seed {}",
                        failure.seed(),
                        failure.message(),
                        failure.seed()
                    ));
                    ExitCode::from(1)
                }
            }
        }
        (Some("--seed"), seed) => {
            let Some(seed) = number(seed) else {
                return usage();
            };
            let rt = Runtime::builder()
                .start_paused(true)
                .seed(seed)
                .build()
                .unwrap();
            let balance = rt.block_on(scenario(fixed));
            drop(rt); // writes the trace, if MINIRT_TRACE asked for one
            out(format_args!("seed {seed}: final balance {balance}"));
            if balance < 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => usage(),
    }
}
