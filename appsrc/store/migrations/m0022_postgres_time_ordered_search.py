"""0022: PostgreSQL reads searches newest first, as SQLite does since 0002.

A page of the activity search is "the newest 50 that match". PostgreSQL either walks the mail
newest first and checks each email, or gathers every match and sorts it, and chooses by its
estimate of how many match. Three things made it choose badly, or made the walk slow:

- **Free text.** The words were an expression index (0007): checking one email meant rebuilding
  its words from the text (about 40 µs), and the planner's statistics on an expression knew too
  few words to estimate a prefix such as `quo:*` (it guessed 197 where 26,000 matched). The words
  are now a stored generated column, `email.search_tsv`, with its own GIN index and a statistics
  target of 1,000, so a check is a lookup and the estimate follows the mail. The column is kept
  by PostgreSQL itself and is invisible to the models, like SQLite's `email_search`. Its words
  are folded as SQLite's are: Latin letters lose their diacritics ("Muller" finds "Müller").
- **An investor.** Its links carry no time, so the newest 50 of a mid-sized investor meant
  walking all mail newest first and probing each email's links (tens of thousands of probes).
  `email_investor_timeline` is SQLite's table of 0002 on PostgreSQL: (investor, email, time
  key), kept by triggers on `email_investor_link` and on `email.sent_at`, read newest first.
- **Direction** needs no schema: the search names the team's addresses instead of a subquery
  (`queries.activity`), so the planner sees from `from_email`'s statistics how much mail is ours.

Adding a stored column rewrites `email` once (about 100 s per million emails, the table locked
meanwhile). SQLite: nothing to do.
"""

from __future__ import annotations

from peewee import PostgresqlDatabase

# Latin letters with diacritics (Latin-1, Extended-A and -B, Extended Additional) and their base
# letters: every one whose canonical decomposition is an ASCII letter and combining marks.
# Folding them makes "Muller" find "Müller", as SQLite's `remove_diacritics` does; combining
# marks written apart (a decomposed "u\u0308", as some mail clients send) are dropped first.
# Frozen here (a later Unicode must not change a stored column); queries.activity folds typed
# words by the same table and marks.
FOLD_FROM = (
    "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵ"
    "ĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻ"
    "ȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷ"
    "ḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẠạ"
    "ẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹ"
)
FOLD_TO = (
    "AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiiiinooooouuuuyyAaAaAaCcCcCcCcDdEeEeEeEeEeGgGgGgGgHhIiIiIiIiIJj"
    "KkLlLlLlNnNnNnOoOoOoRrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZzOoUuAaIiOoUuUuUuUuUuAaAaGgKkOoOojGgNnAa"
    "AaAaEeEeIiIiOoOoRrRrUuUuSsTtHhAaEeOoOoOoOoYyAaBbBbBbCcDdDdDdDdDdEeEeEeEeEeFfGgHhHhHhHhHhIiIiKkKkKkLl"
    "LlLlLlMmMmMmNnNnNnNnOoOoOoOoPpPpRrRrRrRrSsSsSsSsSsTtTtTtTtUuUuUuUuUuVvVvWwWwWwWwWwXxXxYyZzZzZzhtwyAa"
    "AaAaAaAaAaAaAaAaAaAaAaEeEeEeEeEeEeEeEeIiIiOoOoOoOoOoOoOoOoOoOoOoOoUuUuUuUuUuUuUuYyYyYyYy"
)
COMBINING_MARKS = "[\u0300-\u036f]"
# Frozen here as the column's definition (0007's words, folded); queries.activity reads the column.
WORDS = (
    "translate(regexp_replace(regexp_replace(coalesce(subject, '') || ' ' || coalesce(snippet, '') || ' ' || "
    "coalesce(from_name, '') || ' ' || coalesce(from_email, ''), '[[:punct:][:space:]]+', ' ', 'g'), "
    f"'{COMBINING_MARKS}', '', 'g'), '{FOLD_FROM}', '{FOLD_TO}')"
)
KEY_SCALE = 2**31
# 0002's time key: whole seconds (clamped to 0 .. 2^32 - 1) times 2^31, plus the email's id.
KEY = "(LEAST(GREATEST(floor(extract(epoch FROM {sent_at}))::bigint, 0), 4294967295) * 2147483648 + {id})"

STATEMENTS = (
    f"ALTER TABLE email ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', {WORDS})) STORED",
    "DROP INDEX IF EXISTS email_search_words",
    "CREATE INDEX email_search_tsv ON email USING GIN (search_tsv)",
    "ALTER TABLE email ALTER COLUMN search_tsv SET STATISTICS 1000",
    "CREATE TABLE email_investor_timeline (investor_id INTEGER NOT NULL, email_id INTEGER NOT NULL, "
    "key BIGINT NOT NULL, PRIMARY KEY (investor_id, email_id))",
    f"INSERT INTO email_investor_timeline (investor_id, email_id, key) "
    f"SELECT l.investor_id, l.email_id, {KEY.format(sent_at='e.sent_at', id='e.id')} "
    "FROM email_investor_link l JOIN email e ON e.id = l.email_id ON CONFLICT DO NOTHING",
    "CREATE INDEX email_investor_timeline_order ON email_investor_timeline (investor_id, key)",
    "CREATE INDEX email_investor_timeline_email ON email_investor_timeline (email_id)",
    f"""CREATE FUNCTION email_investor_timeline_follow_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        DELETE FROM email_investor_timeline WHERE investor_id = OLD.investor_id AND email_id = OLD.email_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO email_investor_timeline (investor_id, email_id, key)
        SELECT NEW.investor_id, e.id, {KEY.format(sent_at="e.sent_at", id="e.id")}
        FROM email e WHERE e.id = NEW.email_id
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER email_investor_timeline_link AFTER INSERT OR DELETE OR UPDATE OF investor_id, email_id "
    "ON email_investor_link FOR EACH ROW EXECUTE FUNCTION email_investor_timeline_follow_link()",
    f"""CREATE FUNCTION email_investor_timeline_follow_time() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE email_investor_timeline SET key = {KEY.format(sent_at="NEW.sent_at", id="NEW.id")}
    WHERE email_id = NEW.id;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER email_investor_timeline_time AFTER UPDATE OF sent_at ON email FOR EACH ROW "
    "WHEN (OLD.sent_at IS DISTINCT FROM NEW.sent_at) EXECUTE FUNCTION email_investor_timeline_follow_time()",
    """CREATE FUNCTION email_investor_timeline_follow_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM email_investor_timeline;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER email_investor_timeline_truncate AFTER TRUNCATE ON email_investor_link "
    "FOR EACH STATEMENT EXECUTE FUNCTION email_investor_timeline_follow_truncate()",
    "ANALYZE email",
    "ANALYZE email_investor_timeline",
)

# Columns the models do not declare, by table: kept by the database for its own reads.
UNMODELLED_COLUMNS = {"email": {"search_tsv"}}


def up(db):
    if isinstance(db, PostgresqlDatabase):
        for statement in STATEMENTS:
            db.execute_sql(statement)
