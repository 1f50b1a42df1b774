"""Address rules, stated one case at a time: the normal form the matcher compares, what is not
an address at all, comment flattening, and how an address-list header splits."""

from __future__ import annotations

import pytest

from appsrc.matching.addresses import (
    MAX_ADDRESS_CHARS,
    MAX_DOMAIN_CHARS,
    MAX_LOCAL_PART_CHARS,
    domain_of,
    flatten_comments,
    normalize_address,
    split_address_list,
)


@pytest.mark.parametrize(
    "given, normal",
    [
        ("Jane@ACME.example", "jane@acme.example"),
        ("  jane@acme.example  ", "jane@acme.example"),
        ("<jane@acme.example>", "jane@acme.example"),
        ("Jane Roe <Jane@Acme.example>", "jane@acme.example"),
        ("Jane <jane@acme.example >", "jane@acme.example"),
        ("mailto:Jane@acme.example?subject=Hello", "jane@acme.example"),
        ("MAILTO: jane@acme.example", "jane@acme.example"),
        ("jane@acme.example.", "jane@acme.example"),
        ("jane@acme.example..", "jane@acme.example"),
        ('"jane roe"@acme.example', '"jane roe"@acme.example'),
        ("jane@[192.0.2.1]", "jane@[192.0.2.1]"),
        ("jean.dupont@société.example", "jean.dupont@société.example"),
        ("ops_team@mail_relay.acme.example", "ops_team@mail_relay.acme.example"),
    ],
)
def test_the_normal_form(given, normal):
    assert normalize_address(given) == normal


@pytest.mark.parametrize(
    "given",
    [
        "",
        "jane",
        "jane@",
        "@acme.example",
        "jane@@acme.example",
        "jane@acme@example.com",
        "jane@localhost",
        "jane@acme..example",
        "ja ne@acme.example",
        "jane@acme example",
        "jane(x)@acme.example",
        '"unterminated@acme.example',
        "jane@[192.0.2.1",
        "jane@" + "a" * 64 + ".example",
    ],
)
def test_what_is_not_an_address(given):
    assert normalize_address(given) is None


def test_the_length_limits_are_the_rfcs():
    local = "a" * MAX_LOCAL_PART_CHARS
    assert normalize_address(f"{local}@acme.example") == f"{local}@acme.example"
    assert normalize_address(f"a{local}@acme.example") is None
    # A 253-character domain leaves no room for a local part under the 254-character path
    # limit, so the path limit is the one that bites first.
    labels = ".".join(["d" * 63] * 3) + "." + "e" * 60  # 252 characters
    assert len(labels) < MAX_DOMAIN_CHARS and normalize_address(f"j@{labels}") == f"j@{labels}"
    assert normalize_address(f"j@x{labels}") is None
    longest = "a" * MAX_LOCAL_PART_CHARS + "@" + ".".join(["d" * 63] * 2) + "." + "e" * 61
    assert len(longest) == MAX_ADDRESS_CHARS and normalize_address(longest) == longest
    assert normalize_address(longest.replace("@", "@x", 1)) is None


def test_the_domain_of_an_address():
    assert domain_of("Jane Roe <jane@Mail.Acme.example>") == "mail.acme.example"
    assert domain_of("not an address") == ""


@pytest.mark.parametrize(
    "given, flattened, mended",
    [
        ("jane@acme.example", "jane@acme.example", False),
        ("jane@acme.example (Jane Roe)", "jane@acme.example (Jane Roe)", False),
        ("jane@acme.example (Jane (the CFO) Roe)", "jane@acme.example (Jane the CFO Roe)", True),
        ("jane@acme.example (Jane", "jane@acme.example (Jane)", True),
        ("jane@acme.example) Jane", "jane@acme.example Jane", True),
        ('"Roe (CFO" <jane@acme.example>', '"Roe (CFO" <jane@acme.example>', False),
        ('"Roe (CFO)" <jane@acme.example> (x (y))', '"Roe (CFO)" <jane@acme.example> (x y)', True),
        ("jane@acme.example (a \\( b)", "jane@acme.example (a \\( b)", False),
        ("jane@acme.example (Jane) (Roe)", "jane@acme.example (Jane) (Roe)", False),
        (") jane@acme.example", " jane@acme.example", True),
        ('"(" <jane@acme.example> )', '"(" <jane@acme.example> ', True),
        ("jane@acme.example (x \\) ", "jane@acme.example (x \\) )", True),
        ("(" * 1000 + "x", "(x)", True),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else None,
)
def test_comments_are_flattened_to_one_level(given, flattened, mended):
    assert flatten_comments(given) == (flattened, mended)


@pytest.mark.parametrize(
    "header, pairs",
    [
        ("jane@acme.example", [("", "jane@acme.example")]),
        (
            "Jane Roe <jane@acme.example>, joe@acme.example",
            [("Jane Roe", "jane@acme.example"), ("", "joe@acme.example")],
        ),
        ('"Roe, Jane" <jane@acme.example>', [("Roe, Jane", "jane@acme.example")]),
        ('"Jane \\"JR\\" Roe" <jane@acme.example>', [('Jane "JR" Roe', "jane@acme.example")]),
        ("eve@example.com <frank@example.com>", [("eve@example.com", "frank@example.com")]),
        ("=?utf-8?q?Ren=C3=A9e?= <renee@acme.example>", [("=?utf-8?q?Ren=C3=A9e?=", "renee@acme.example")]),
        ("jane@acme.example (Jane Roe)", [("Jane Roe", "jane@acme.example")]),
        ("undisclosed-recipients:;", []),
        ("Team: jane@acme.example, joe@acme.example;", [("", "jane@acme.example"), ("", "joe@acme.example")]),
        (" , jane@acme.example , ", [("", "jane@acme.example")]),
    ],
)
def test_an_address_list_splits_into_name_and_address_pairs(header, pairs):
    assert split_address_list(header) == pairs
