//! Counters (login throttling): counts within a fixed window that restart in a newer one.

use super::{CheckResult, NOW, StoreWithFlow, ensure_eq, ok, unique_suffix};

/// Counters: count within a window, restart in a newer one, read 0 for an older or absent one.
pub async fn check_flow_counters(store: &dyn StoreWithFlow) -> CheckResult {
    let key = format!("conf-counter-{}", unique_suffix());
    let other = format!("{key}-other");
    let w1 = NOW;
    let w2 = NOW + 300;

    ensure_eq(
        ok(store.read_counter(&key, w1).await, "read absent")?,
        0,
        "an absent counter reads 0",
    )?;
    for want in 1..=3 {
        ensure_eq(
            ok(store.bump_counter(&key, w1, w1 + want).await, "bump")?,
            want,
            "bump_counter counts 1, 2, 3 within a window",
        )?;
    }
    ensure_eq(
        ok(store.read_counter(&key, w1).await, "read")?,
        3,
        "read_counter reads the window's count",
    )?;
    ensure_eq(
        ok(store.read_counter(&key, w2).await, "read newer window")?,
        0,
        "a counter of an older window reads 0",
    )?;
    ensure_eq(
        ok(store.bump_counter(&other, w1, w1).await, "bump other")?,
        1,
        "counters are per key",
    )?;

    ensure_eq(
        ok(store.bump_counter(&key, w2, w2).await, "bump newer window")?,
        1,
        "a newer window restarts at 1",
    )?;
    ensure_eq(
        ok(store.bump_counter(&key, w2, w2 + 1).await, "bump")?,
        2,
        "and counts on",
    )?;
    // A node whose clock lags counts into the stored (newer) window; it never restarts it.
    ensure_eq(
        ok(
            store.bump_counter(&key, w1, w1 + 4).await,
            "bump older window",
        )?,
        3,
        "a bump for an older window counts on in the stored window",
    )?;
    ensure_eq(
        ok(store.read_counter(&key, w2).await, "read")?,
        3,
        "read_counter after the restart",
    )?;
    ensure_eq(
        ok(store.read_counter(&other, w1).await, "read other")?,
        1,
        "the other key is untouched",
    )?;

    ok(store.reset_counter(&key).await, "reset")?;
    ensure_eq(
        ok(store.read_counter(&key, w2).await, "read reset")?,
        0,
        "a reset counter reads 0",
    )?;
    ensure_eq(
        ok(
            store.bump_counter(&key, w2, w2 + 2).await,
            "bump after reset",
        )?,
        1,
        "a reset counter restarts at 1",
    )?;
    ensure_eq(
        ok(store.read_counter(&other, w1).await, "read other")?,
        1,
        "reset is per key",
    )?;
    ok(store.reset_counter(&key).await, "reset")?;
    ok(store.reset_counter(&key).await, "reset an absent counter")?;
    ok(store.reset_counter(&other).await, "reset other")
}
