from __future__ import annotations

import pytest

from xops_provider.simulator.faults import (
    HUNTING_QUOTA,
    FaultInjector,
    FaultSpec,
    FaultSpecError,
    Quota,
    QuotaWindow,
    Trigger,
    retry_after_header,
)


class TestFaultSpec:
    def test_issue_example(self):
        spec = FaultSpec.parse("429=0.3,503=0.1,expand500=20,slow=200ms,truncate=0.05,token_lifetime=5")
        assert spec.throttle == Trigger(rate=0.3)
        assert spec.unavailable == Trigger(rate=0.1)
        assert spec.expand500 == 20
        assert spec.slow == pytest.approx(0.2)
        assert spec.truncate == Trigger(rate=0.05)
        assert spec.token_lifetime == 5

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param("429=30%", FaultSpec(throttle=Trigger(rate=0.3)), id="percent"),
            pytest.param("503=2x", FaultSpec(unavailable=Trigger(count=2)), id="count"),
            pytest.param("retry_after=0.2", FaultSpec(retry_after=0.2), id="fractional-retry-after"),
            pytest.param("slow=1.5s", FaultSpec(slow=1.5), id="seconds"),
            pytest.param("skip_ceiling=100", FaultSpec(skip_ceiling=100), id="skip-ceiling"),
            pytest.param("quota=150/min", FaultSpec(quota=Quota(limit=150, unit="min")), id="quota-min"),
            pytest.param("quota=5/s", FaultSpec(quota=Quota(limit=5, unit="s")), id="quota-s"),
            pytest.param("quota=1000/h", FaultSpec(quota=Quota(limit=1000, unit="h")), id="quota-h"),
            pytest.param("quota = 7 / MIN", FaultSpec(quota=Quota(limit=7, unit="min")), id="quota-spaces"),
            pytest.param(" 429 = 1 , ", FaultSpec(throttle=Trigger(rate=1.0)), id="spaces"),
            pytest.param(
                "hunting_quota=10/s", FaultSpec(hunting_quota=Quota(limit=10, unit="s")), id="hunting-quota"
            ),
            pytest.param("hunting_quota=OFF", FaultSpec(hunting_quota=None), id="hunting-quota-off"),
            pytest.param("hunting_429=2x", FaultSpec(hunting_throttle=Trigger(count=2)), id="hunting-429"),
            pytest.param(
                "hunting_400=50%", FaultSpec(hunting_bad_request=Trigger(rate=0.5)), id="hunting-400"
            ),
            pytest.param("cato_error=3x", FaultSpec(cato_error=Trigger(count=3)), id="cato-error"),
            pytest.param(
                "cato_quota=100/min", FaultSpec(cato_quota=Quota(limit=100, unit="min")), id="cato-quota"
            ),
            pytest.param("cato_page=50", FaultSpec(cato_page=50), id="cato-page"),
            pytest.param("", FaultSpec(), id="empty"),
        ],
    )
    def test_parse(self, text, expected):
        assert FaultSpec.parse(text) == expected

    @pytest.mark.parametrize(
        ("text", "match"),
        [
            pytest.param("404=0.1", "unknown fault '404'", id="unknown"),
            pytest.param("429=1.5", r"within \[0, 1\]", id="rate-above-one"),
            pytest.param("429", "expected name=value", id="no-value"),
            pytest.param("slow=fast", "not a duration", id="bad-duration"),
            pytest.param("expand500=-1", "whole number|negative", id="negative"),
            pytest.param("token_lifetime=0", "at least 1 second", id="zero-lifetime"),
            pytest.param("quota=0/min", "at least 1 request", id="quota-zero"),
            pytest.param("quota=x", "quota needs N/s, N/min or N/h", id="quota-not-a-rate"),
            pytest.param("quota=5/day", "quota needs N/s, N/min or N/h", id="quota-day"),
            pytest.param("quota=5", "quota needs N/s, N/min or N/h", id="quota-no-period"),
            pytest.param("quota=-5/s", "quota needs N/s, N/min or N/h", id="quota-negative"),
            pytest.param("quota=1.5/s", "quota needs N/s, N/min or N/h", id="quota-fraction"),
            pytest.param("hunting_quota=45", "quota needs N/s, N/min or N/h", id="hunting-quota-no-period"),
            pytest.param("cato_quota=off", "quota needs N/s, N/min or N/h", id="cato-quota-off"),
            pytest.param("cato_page=0", r"within \[1, 3000\]", id="cato-page-zero"),
            pytest.param("cato_page=3001", r"within \[1, 3000\]", id="cato-page-too-big"),
            pytest.param("cato_error=2", r"within \[0, 1\]", id="cato-error-count-needs-x"),
        ],
    )
    def test_refused(self, text, match):
        with pytest.raises(FaultSpecError, match=match):
            FaultSpec.parse(text)

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param(
                "429=0.25,503=3x,retry_after=0.2,quota=150/min,expand500=4,slow=150ms,truncate=0.5,skip_ceiling=9",
                id="graph",
            ),
            pytest.param(
                "hunting_quota=off,hunting_429=0.5,hunting_400=2x,cato_error=1x,cato_quota=5/s,cato_page=10",
                id="correlation",
            ),
        ],
    )
    def test_round_trips_through_its_text(self, text):
        spec = FaultSpec.parse(text)
        assert FaultSpec.parse(str(spec)) == spec

    def test_hunting_quota_is_on_by_default_and_not_written(self):
        assert FaultSpec().hunting_quota == HUNTING_QUOTA == Quota(limit=45, unit="min")
        assert str(FaultSpec()) == ""
        assert FaultSpec().as_dict()["hunting_quota"] == "45/min"
        assert str(FaultSpec.parse("hunting_quota=off")) == "hunting_quota=off"

    def test_quota_period(self):
        assert [Quota.parse(text).period for text in ("5/s", "150/min", "1000/h")] == [1, 60, 3600]

    def test_quota_is_shown_as_written(self):
        spec = FaultSpec.parse("quota=150/min")
        assert str(spec) == "quota=150/min"
        assert spec.as_dict()["quota"] == "150/min"
        assert FaultSpec().as_dict()["quota"] is None


class TestFaultInjector:
    def test_same_seed_same_dice(self):
        spec = FaultSpec.parse("429=0.5")
        first = FaultInjector(spec=spec, seed=7)
        second = FaultInjector(spec=spec, seed=7)
        assert [first.fires("throttle") for _ in range(50)] == [second.fires("throttle") for _ in range(50)]

    def test_count_fires_exactly_that_many(self):
        injector = FaultInjector(spec=FaultSpec.parse("503=3x"), seed=0)
        assert [injector.fires("unavailable") for _ in range(5)] == [True, True, True, False, False]

    def test_cut_stays_inside_the_body(self):
        injector = FaultInjector(spec=FaultSpec(), seed=1)
        assert all(1 <= injector.cut(100) <= 98 for _ in range(200))


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestQuotaWindow:
    def test_admits_the_limit_then_says_when_the_oldest_leaves(self):
        clock = FakeClock()
        window = QuotaWindow(Quota(limit=3, unit="s"), clock=clock)
        for step in (0.0, 0.25, 0.25):
            clock.now += step
            assert window.admit("app") is None
        clock.now += 0.1
        assert window.admit("app") == pytest.approx(0.4)

    def test_waiting_exactly_the_answer_is_admitted(self):
        clock = FakeClock()
        window = QuotaWindow(Quota(limit=2, unit="min"), clock=clock)
        assert window.admit("app") is None
        clock.now += 10
        assert window.admit("app") is None
        wait = window.admit("app")
        assert wait == pytest.approx(50)
        clock.now += wait
        assert window.admit("app") is None
        assert window.admit("app") == pytest.approx(10)

    def test_refusals_cost_nothing(self):
        clock = FakeClock()
        window = QuotaWindow(Quota(limit=1, unit="s"), clock=clock)
        assert window.admit("app") is None
        waits = []
        for _ in range(9):
            clock.now += 0.1
            waits.append(window.admit("app"))
        assert waits == pytest.approx([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
        clock.now += 0.1
        assert window.admit("app") is None

    def test_no_more_than_the_limit_in_any_window(self):
        # A token bucket would admit a full bucket and then its refill: 2N in one period.
        clock = FakeClock()
        window = QuotaWindow(Quota(limit=5, unit="s"), clock=clock)
        admitted = []
        for _ in range(400):
            clock.now += 1 / 64  # exact in binary, so no drift blurs the window's edges
            if window.admit("app") is None:
                admitted.append(clock.now)
        # 400 ticks are 6.25 s: seven windows of five.
        assert len(admitted) == 35
        assert all(later - earlier >= 1 for earlier, later in zip(admitted, admitted[5:], strict=False))

    def test_apps_are_counted_apart(self):
        window = QuotaWindow(Quota(limit=1, unit="h"), clock=FakeClock())
        assert window.admit("a") is None
        assert window.admit("b") is None
        assert window.admit("a") == pytest.approx(3600)

    def test_set_faults_starts_a_fresh_window(self):
        injector = FaultInjector(spec=FaultSpec.parse("quota=1/h"), seed=0)
        assert injector.admit("app") is None
        assert injector.admit("app") is not None
        injector.configure(spec=FaultSpec.parse("quota=1/h"))
        assert injector.admit("app") is None
        injector.configure(spec=FaultSpec())
        assert all(injector.admit("app") is None for _ in range(10))


class TestRetryAfterHeader:
    @pytest.mark.parametrize(
        ("seconds", "header"),
        [
            pytest.param(2.1275, "2.128", id="fraction-rounded-up"),
            pytest.param(2.128, "2.128", id="fraction"),
            pytest.param(0.5, "0.5", id="half"),
            pytest.param(60.0, "60", id="whole"),
            pytest.param(1e-6, "0.001", id="never-zero"),
        ],
    )
    def test_format(self, seconds, header):
        assert retry_after_header(seconds) == header
