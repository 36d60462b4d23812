from __future__ import annotations

import pytest

from xops_provider.simulator.faults import FaultInjector, FaultSpec, FaultSpecError, Trigger


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
            pytest.param(" 429 = 1 , ", FaultSpec(throttle=Trigger(rate=1.0)), id="spaces"),
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
        ],
    )
    def test_refused(self, text, match):
        with pytest.raises(FaultSpecError, match=match):
            FaultSpec.parse(text)

    def test_round_trips_through_its_text(self):
        spec = FaultSpec.parse(
            "429=0.25,503=3x,retry_after=0.2,expand500=4,slow=150ms,truncate=0.5,skip_ceiling=9"
        )
        assert FaultSpec.parse(str(spec)) == spec


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
