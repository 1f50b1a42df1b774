import pytest

from appsrc.crm.investors import ImportFailed, import_investors_csv
from appsrc.matching.matcher import Directory
from appsrc.store.models import AuditEvent, Contact, ContactEmail, Investor, InvestorDomain
from tests.conftest import NOW
from tests.crm.fixtures import web_runtime, world  # noqa: F401 - fixtures

GOOD = """investor,domains,graveyard,contact_name,contact_email
Acme Capital,acme.example;acmecap.example,0,Jane Roe,jane@acme.example
Acme Capital,acme.example;acmecap.example,0,Jane Doe (personal),Jane.Doe@gmail.com
Beta Partners,beta.example,1,,
"""


def fund_directory() -> Directory:
    """The fund as these tests see it: its own domain, nothing captured yet."""
    return Directory(own_domains=frozenset({"fund.example"}))


def state():
    return (
        sorted((i.name, i.graveyard) for i in Investor.select()),
        sorted((d.domain, d.investor.name) for d in InvestorDomain.select()),
        sorted((c.address, c.contact.name, c.contact.investor.name) for c in ContactEmail.select()),
    )


def test_import_creates_investors_domains_and_contacts(db):
    result = import_investors_csv(GOOD, NOW, directory=fund_directory, actor_label="test")
    assert (result.investors_created, result.contacts_created) == (2, 2)
    assert state() == (
        [("Acme Capital", False), ("Beta Partners", True)],
        [("acme.example", "Acme Capital"), ("acmecap.example", "Acme Capital"), ("beta.example", "Beta Partners")],
        [
            ("jane.doe@gmail.com", "Jane Doe (personal)", "Acme Capital"),
            ("jane@acme.example", "Jane Roe", "Acme Capital"),
        ],
    )
    assert AuditEvent.select().where(AuditEvent.action == "investors.import").count() == 1


def test_import_is_an_idempotent_upsert(db):
    import_investors_csv(GOOD, NOW, directory=fund_directory)
    before = state()
    again = import_investors_csv(GOOD, NOW, directory=fund_directory)
    assert state() == before
    assert (again.investors_created, again.investors_updated, again.contacts_created, again.contacts_updated) == (
        0,
        0,
        0,
        0,
    )
    renamed = GOOD.replace("Jane Roe", "Jane Roe-Smith").replace(
        "Beta Partners,beta.example,1", "Beta Partners,beta.example,0"
    )
    result = import_investors_csv(renamed, NOW, directory=fund_directory)
    assert result.contacts_updated == 1 and result.investors_updated == 2
    assert Contact.get(Contact.name == "Jane Roe-Smith")
    assert not Investor.get(Investor.name == "Beta Partners").graveyard


@pytest.mark.parametrize(
    "bad_row, line, words",
    [
        ("Gamma,gmail.com,0,,", 5, "free-mail"),
        ("Gamma,not a domain,0,,", 5, "not a valid domain"),
        ("Gamma,gamma.example,2,,", 5, "graveyard must be 0 or 1"),
        ("Gamma,gamma.example,0,Ann,not-an-address", 5, "not a valid email address"),
        (",gamma.example,0,,", 5, "investor name is empty"),
        ("Gamma,acme.example,0,,", 5, "acme.example is listed for both"),
        ("Gamma,gamma.example,0,Ann,jane@acme.example", 5, "listed for both"),
        ("Gamma,gamma.example,0,Ann", 5, "expected 5 columns"),
        ("Gamma,gamma.example,0,Ann,", 5, "has no contact_email"),
    ],
)
def test_a_bad_row_is_reported_by_line_and_nothing_is_written(db, bad_row, line, words):
    with pytest.raises(ImportFailed) as caught:
        import_investors_csv(GOOD + bad_row + "\n", NOW, directory=fund_directory)
    assert any(n == line and words in message for n, message in caught.value.errors), caught.value.errors
    assert state() == ([], [], [])


def test_conflict_with_existing_data_rolls_back_the_whole_file(db):
    import_investors_csv(GOOD, NOW, directory=fund_directory)
    before = state()
    clash = "investor,domains,graveyard,contact_name,contact_email\nNewco,newco.example,0,,\nOther,acme.example,0,,\n"
    with pytest.raises(ImportFailed) as caught:
        import_investors_csv(clash, NOW, directory=fund_directory)
    assert "already belongs to Acme Capital" in str(caught.value)
    assert state() == before  # Newco was not created either


def test_wrong_header_and_empty_file(db):
    with pytest.raises(ImportFailed, match="header must be"):
        import_investors_csv("name,domain\nAcme,acme.example\n", NOW, directory=fund_directory)
    with pytest.raises(ImportFailed, match="empty"):
        import_investors_csv("", NOW, directory=fund_directory)


def test_own_domain_cannot_be_an_investor_domain(db):
    with pytest.raises(ImportFailed, match="fund's own"):
        import_investors_csv(
            "investor,domains,graveyard,contact_name,contact_email\nUs,fund.example,0,,\n",
            NOW,
            directory=fund_directory,
        )


HEADER = "investor,domains,graveyard,contact_name,contact_email\n"


def test_an_empty_domains_cell_leaves_an_investors_domains_alone(db):
    """A contacts-only file (domains left empty) once removed every domain of the investors it
    named, and with them the matching of their mail."""
    import_investors_csv(GOOD, NOW, directory=fund_directory)
    before = state()
    contacts_only = HEADER + "Acme Capital,,,Sam Lee,sam@acme.example\nBeta Partners,,,,\n"
    preview = import_investors_csv(contacts_only, NOW, directory=fund_directory, dry_run=True)
    assert [
        (p["investor"], p["domains"], p["domains_added"], p["domains_removed"], p["graveyard"]) for p in preview.preview
    ] == [
        ("Acme Capital", ["acme.example", "acmecap.example"], [], [], False),
        ("Beta Partners", ["beta.example"], [], [], True),
    ]
    result = import_investors_csv(contacts_only, NOW, directory=fund_directory)
    assert result.changed_domains == set() and result.contacts_created == 1 and result.investors_updated == 0
    domains, graveyards = state()[1], state()[0]
    assert domains == before[1] and graveyards == before[0]  # graveyard left empty: unchanged too


def test_listed_domains_replace_an_investors_domains_and_the_preview_says_how(db):
    import_investors_csv(GOOD, NOW, directory=fund_directory)
    # Two rows for Acme: together they list acme.example and acme-lp.example (acmecap.example goes).
    change = HEADER + (
        "Acme Capital,acme.example,,Jane Roe,jane@acme.example\n"
        "Acme Capital,acme-lp.example; ,,,\n"
        "Acme Capital,,,Jane Doe (personal),jane.doe@gmail.com\n"
    )
    preview = import_investors_csv(change, NOW, directory=fund_directory, dry_run=True)
    [acme] = preview.preview
    assert (acme["domains"], acme["domains_added"], acme["domains_removed"]) == (
        ["acme-lp.example", "acme.example"],
        ["acme-lp.example"],
        ["acmecap.example"],
    )
    assert preview.changed_domains == {"acme-lp.example", "acmecap.example"}
    assert ("acmecap.example", "Acme Capital") in state()[1]  # a preview writes nothing
    import_investors_csv(change, NOW, directory=fund_directory)
    assert [d for d, owner in state()[1] if owner == "Acme Capital"] == ["acme-lp.example", "acme.example"]
    again = import_investors_csv(change, NOW, directory=fund_directory, dry_run=True).preview[0]
    assert (again["domains_added"], again["domains_removed"]) == ([], [])  # idempotent


def test_a_cell_of_separators_only_counts_as_empty(db):
    import_investors_csv(GOOD, NOW, directory=fund_directory)
    result = import_investors_csv(HEADER + "Beta Partners, ; ;,,,\n", NOW, directory=fund_directory)
    assert result.changed_domains == set() and ("beta.example", "Beta Partners") in state()[1]


def test_a_graveyard_flip_by_import_rematches_free_mail_contacts_too(world):
    """A contact known by a free-mail address is matched by address, not by domain: flipping
    the investor into the graveyard by CSV must reach that contact's mail as well."""
    acme = world.investor("Acme Capital", "acme.example")
    world.contact(acme, "Jane Doe (personal)", "jane.doe@gmail.com")
    email = world.email("Side letter", "jane.doe@gmail.com", ["ada@fund.example"])
    assert [p.status for p in world.proposals_of(email)] == ["pending"]

    flip = "investor,domains,graveyard,contact_name,contact_email\nAcme Capital,acme.example,1,,\n"
    result = import_investors_csv(flip, world.now, directory=world.directory)
    assert "jane.doe@gmail.com" in result.changed_addresses
    assert [p.status for p in world.proposals_of(email) if p.status == "pending"] == []
