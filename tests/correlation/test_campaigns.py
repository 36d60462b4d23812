"""Related stories and campaigns: what joins, what never does, and stable campaign ids."""

from __future__ import annotations

import random
from typing import Any

import pytest

from xops_provider.correlation.campaigns import assign_campaigns, campaign_of, new_campaign_id
from xops_provider.correlation.keys import StoryKeys, story_keys
from xops_provider.correlation.related import CANDIDATE_LIMIT, RelationPolicy, related_stories


def keys(story_id: str, *, tenant: str = "t", merged_into: str | None = None, **values: Any) -> StoryKeys:
    return StoryKeys(
        story_id=story_id,
        tenant_id=tenant,
        merged_into=merged_into,
        **{name: frozenset([v] if isinstance(v, str) else v) for name, v in values.items()},
    )


def campaign_members(stories: list[StoryKeys], **kwargs: Any) -> list[tuple[str, ...]]:
    result = assign_campaigns(stories, **kwargs)
    return sorted(c.story_ids for c in result.campaigns.values())


class TestRelated:
    def test_names_what_is_shared(self) -> None:
        related = related_stories(
            [
                keys(
                    "a", senders="m@evil.example", recipients="bob@x.example", urls="https://evil.example/1"
                ),
                keys("b", senders="m@evil.example", recipients="bob@x.example"),
                keys("c", senders="other@else.example"),
            ]
        )
        (only,) = related["a"]
        assert only.story_id == "b"
        assert only.shared == (("recipient", "bob@x.example"), ("sender", "m@evil.example"))
        assert only.to_json() == {
            "story_id": "b",
            "shared": [
                {"type": "recipient", "value": "bob@x.example"},
                {"type": "sender", "value": "m@evil.example"},
            ],
        }
        assert related["c"] == ()

    def test_most_shared_first_then_by_id(self) -> None:
        stories = [
            keys("a", senders="s@evil.example", mail_clusters="c1"),
            keys("b", senders="s@evil.example"),
            keys("c", senders="s@evil.example", mail_clusters="c1"),
            keys("d", senders="s@evil.example"),
        ]
        related = related_stories(stories, policy=RelationPolicy(max_related_stories=2))
        assert [r.story_id for r in related["a"]] == ["c", "b"]

    def test_tenants_never_mix(self) -> None:
        related = related_stories(
            [keys("a", senders="s@evil.example"), keys("b", tenant="u", senders="s@evil.example")]
        )
        assert related == {"a": (), "b": ()}

    def test_merged_story_relates_to_nothing(self) -> None:
        stories = [keys("a", senders="s@evil.example"), keys("b", senders="s@evil.example", merged_into="a")]
        assert related_stories(stories) == {"a": (), "b": ()}

    def test_large_indicator_keeps_exact_ranking(self) -> None:
        size = CANDIDATE_LIMIT + 200
        stories = [keys(f"s{n:05d}", urls="https://evil.example/x") for n in range(size)]
        stories[0] = keys("s00000", urls="https://evil.example/x", mail_clusters="c1")
        stories[-1] = keys(f"s{size - 1:05d}", urls="https://evil.example/x", mail_clusters="c1")
        related = related_stories(stories, policy=RelationPolicy(max_related_stories=3))
        assert [r.story_id for r in related["s00000"]] == [f"s{size - 1:05d}", "s00001", "s00002"]
        assert related["s00000"][0].shared == (("mail_cluster", "c1"), ("url", "https://evil.example/x"))
        assert [r.story_id for r in related["s00500"]] == ["s00000", "s00001", "s00002"]

    def test_duplicate_story(self) -> None:
        with pytest.raises(ValueError, match="given twice"):
            related_stories([keys("a"), keys("a")])


class TestWhatJoins:
    def test_shared_recipient_alone_is_no_campaign(self) -> None:
        stories = [keys("a", recipients="bob@x.example"), keys("b", recipients="bob@x.example")]
        assert campaign_members(stories) == []
        assert [r.story_id for r in related_stories(stories)["a"]] == ["b"]

    @pytest.mark.parametrize(
        "field",
        [
            "senders",
            "sender_domains",
            "urls",
            "url_domains",
            "mail_clusters",
            "attachment_hashes",
            "sender_ips",
        ],
    )
    def test_each_attack_indicator_joins(self, field: str) -> None:
        stories = [keys("a", **{field: "v"}), keys("b", **{field: "v"}), keys("c", **{field: "w"})]
        assert campaign_members(stories) == [("a", "b")]

    def test_joins_are_transitive(self) -> None:
        stories = [keys("a", senders="s1"), keys("b", senders="s1", urls="u1"), keys("c", urls="u1")]
        result = assign_campaigns(stories)
        (campaign,) = result.campaigns.values()
        assert campaign.story_ids == ("a", "b", "c")
        assert campaign.indicators == (("sender", "s1"), ("url", "u1"))

    def test_affected_users_across_the_campaign(self) -> None:
        stories = [
            keys("a", senders="s", recipients={"x@t.example", "y@t.example"}),
            keys("b", senders="s", recipients="z@t.example"),
        ]
        (campaign,) = assign_campaigns(stories).campaigns.values()
        assert campaign.affected_users == ("x@t.example", "y@t.example", "z@t.example")

    def test_free_mail_sender_domain_does_not_glue(self) -> None:
        def story(story_id: str, sender: str) -> StoryKeys:
            return story_keys(
                {
                    "story_id": story_id,
                    "tenant_id": "t",
                    "entities": [
                        {
                            "type": "sender",
                            "value": sender,
                            "roles": ["p2_sender"],
                            "attributes": {"domain": "outlook.com"},
                        }
                    ],
                }
            )

        assert campaign_members([story("a", "one@outlook.com"), story("b", "two@outlook.com")]) == []

    def test_broad_indicator_over_the_limit_joins_nothing(self) -> None:
        policy = RelationPolicy(max_stories_per_broad_indicator=3)
        three = [keys(f"s{n}", sender_domains="bulk.example") for n in range(3)]
        four = [keys(f"s{n}", sender_domains="bulk.example") for n in range(4)]
        assert campaign_members(three, policy=policy) == [("s0", "s1", "s2")]
        assert campaign_members(four, policy=policy) == []
        assert related_stories(four, policy=policy)["s0"] == ()

    def test_precise_indicator_has_no_limit(self) -> None:
        policy = RelationPolicy(max_stories_per_broad_indicator=3)
        stories = [keys(f"s{n}", urls="https://evil.example/x") for n in range(10)]
        assert campaign_members(stories, policy=policy) == [tuple(f"s{n}" for n in range(10))]

    def test_merged_story_takes_its_survivors_campaign(self) -> None:
        stories = [keys("a", senders="s"), keys("b", senders="s"), keys("m", senders="s", merged_into="a")]
        result = assign_campaigns(stories)
        assert "m" not in result.by_story
        assert campaign_of(stories[2], result) is campaign_of(stories[0], result) is not None
        assert campaign_of(keys("z"), result) is None


class TestStableIds:
    def test_new_campaign_id_is_deterministic(self) -> None:
        stories = [keys("b", senders="s"), keys("a", senders="s")]
        first, second = assign_campaigns(stories), assign_campaigns(list(reversed(stories)))
        assert first == second
        assert set(first.campaigns) == {new_campaign_id("t", "a")}

    def test_growing_campaign_keeps_its_id(self) -> None:
        previous = {"a": "campaign:old", "b": "campaign:old"}
        stories = [keys("a", senders="s"), keys("b", senders="s"), keys("0", senders="s")]
        result = assign_campaigns(stories, previous=previous)
        assert result.by_story == {"0": "campaign:old", "a": "campaign:old", "b": "campaign:old"}

    def test_join_keeps_the_id_more_stories_had(self) -> None:
        previous = {
            "a": "campaign:z",
            "b": "campaign:z",
            "c": "campaign:y",
            "d": "campaign:z",
            "e": "campaign:y",
        }
        stories = [
            keys("a", urls="u1"),
            keys("b", urls="u1"),
            keys("d", urls="u1", senders="glue"),
            keys("c", urls="u2", senders="glue"),
            keys("e", urls="u2"),
        ]
        assert set(assign_campaigns(stories, previous=previous).by_story.values()) == {"campaign:z"}

    def test_join_on_a_tie_keeps_the_smaller_id(self) -> None:
        previous = {"a": "campaign:2", "b": "campaign:2", "c": "campaign:1", "d": "campaign:1"}
        stories = [
            keys("a", urls="u1"),
            keys("b", urls="u1", senders="glue"),
            keys("c", urls="u2", senders="glue"),
            keys("d", urls="u2"),
        ]
        assert set(assign_campaigns(stories, previous=previous).by_story.values()) == {"campaign:1"}

    def test_split_keeps_the_id_on_the_larger_part(self) -> None:
        previous = {s: "campaign:old" for s in "abcde"}
        stories = [
            keys("a", urls="u2"),
            keys("b", urls="u2"),
            keys("c", urls="u1"),
            keys("d", urls="u1"),
            keys("e", urls="u1"),
        ]
        result = assign_campaigns(stories, previous=previous)
        assert result.by_story["c"] == "campaign:old"
        assert result.by_story["a"] == new_campaign_id("t", "a")

    def test_split_on_a_tie_keeps_the_id_on_the_smaller_story(self) -> None:
        previous = {s: "campaign:old" for s in "abcd"}
        stories = [keys("c", urls="u2"), keys("d", urls="u2"), keys("a", urls="u1"), keys("b", urls="u1")]
        result = assign_campaigns(stories, previous=previous)
        assert (result.by_story["a"], result.by_story["c"]) == ("campaign:old", new_campaign_id("t", "c"))

    def test_new_id_never_reuses_one_in_use(self) -> None:
        taken = new_campaign_id("t", "a")
        previous = {"c": taken, "d": taken}
        stories = [keys("a", urls="u1"), keys("b", urls="u1"), keys("c", urls="u2"), keys("d", urls="u2")]
        result = assign_campaigns(stories, previous=previous)
        assert result.by_story["c"] == taken
        assert result.by_story["a"] == new_campaign_id("t", "a", 1)

    def test_lone_story_leaves_its_campaign(self) -> None:
        previous = {"a": "campaign:old", "b": "campaign:old", "gone": "campaign:old"}
        result = assign_campaigns([keys("a", urls="u1"), keys("b", urls="u2")], previous=previous)
        assert result.by_story == {}


def test_ten_thousand_stories() -> None:
    """100 campaigns of 95 stories and 500 loners; all share a bulk sender domain and some recipients."""
    rng = random.Random(3)
    users = [f"user{n}@xyz.example" for n in range(800)]
    common = {"sender_domains": "bulk-mailer.example"}
    stories = [
        # Half the campaign shares one URL; the other half got personal links on the same domain.
        keys(
            f"mdo:t:{n:05d}",
            senders=f"sender{n}@evil{n % 100}.example",
            urls=f"https://evil{n % 100}.example/" if n % 2 else f"https://evil{n % 100}.example/p/{n}",
            url_domains=f"evil{n % 100}.example",
            recipients=set(rng.sample(users, 3)),
            **common,
        )
        for n in range(9_500)
    ] + [
        keys(
            f"mdo:t:{n:05d}",
            senders=f"lone{n}@else{n}.example",
            recipients=set(rng.sample(users, 3)),
            **common,
        )
        for n in range(9_500, 10_000)
    ]
    result = assign_campaigns(stories)
    assert sorted(len(c.story_ids) for c in result.campaigns.values()) == [95] * 100
    assert all(c.story_ids[0][-2:] == c.story_ids[1][-2:] for c in result.campaigns.values())
    related = related_stories(stories)
    assert all(len(items) <= 25 for items in related.values())
    for story_id, items in related.items():
        for item in items:
            if any(kind != "recipient" for kind, _ in item.shared):
                assert result.by_story[item.story_id] == result.by_story[story_id]
    assert all(story_id not in result.by_story for story_id in (k.story_id for k in stories[9_500:]))
