"""Saved chats (SQLite), their Markdown export, the scope picker's choices and the page viewer's
markup: pure functions and the store on a real SQLite file in tmp_path."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import pytest

from app.owner.scope import FOLDER_PICK as FOLDER
from app.ui.chats import ChatStore, Turn, chat_label, chat_markdown, export_name, resolve_markers, title_of
from app.ui.scope_picker import SHOWN_CHOICES, scope_choices, scope_summary
from app.ui.viewer import next_zoom, viewer_html

SOURCES = [{"number": 1, "file": "tides.pdf", "title": "Tide gauges", "path": "/d/tides.pdf",
            "page": 2, "text": "The gauge was installed in 1962.", "marks": []},
           {"number": 2, "file": "orchard.pdf", "title": "", "path": "/d/orchard.pdf",
            "page": 0, "text": "340 pear trees.", "marks": []}]


def turn(question: str, answer: str = "Installed in 1962 [1].") -> Turn:
    return Turn(question, answer, answer, "<div>sources</div>", SOURCES, plain="Installed in 1962.")


def test_a_chat_keeps_its_turns_in_order_across_store_instances(tmp_path):
    path = tmp_path / "chats.sqlite3"
    store = ChatStore(path)
    first = store.create("When was the tide gauge installed?", ["doc1"])
    store.add_turn(first, turn("When was the tide gauge installed?"))
    store.add_turn(first, turn("And by whom?", "By Tomas Reyes [1]."))
    second = store.create("Pear trees?")
    store.add_turn(second, turn("Pear trees?", "340 [2]."))

    reopened = ChatStore(path)  # a restart of serve
    chat = reopened.get(first)
    assert chat is not None and chat.scope == ["doc1"]
    assert [t.question for t in chat.turns] == ["When was the tide gauge installed?", "And by whom?"]
    assert chat.turns[0].sources == SOURCES and chat.turns[0].plain == "Installed in 1962."
    assert [c.chat_id for c in reopened.recent()] == [second, first]  # newest first

    reopened.add_turn(first, turn("One more?"))  # using a chat moves it to the top
    assert [c.chat_id for c in reopened.recent()][0] == first


def test_rename_drop_last_turn_and_delete(tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite3")
    chat_id = store.create("q1")
    store.add_turn(chat_id, turn("q1"))
    store.add_turn(chat_id, turn("q2"))
    store.rename(chat_id, "  Tide   gauges\n")
    assert store.get(chat_id).title == "Tide gauges"
    with pytest.raises(ValueError):
        store.rename(chat_id, "   ")
    assert store.drop_last_turn(chat_id).question == "q2"
    assert [t.question for t in store.get(chat_id).turns] == ["q1"]
    store.add_turn(chat_id, turn("q3"))  # numbering goes on after a dropped turn
    assert [t.question for t in store.get(chat_id).turns] == ["q1", "q3"]
    store.delete(chat_id)
    assert store.get(chat_id) is None and store.recent() == []
    with sqlite3.connect(tmp_path / "chats.sqlite3") as db:  # its turns went with it
        assert db.execute("SELECT count(*) FROM turns").fetchone()[0] == 0
    assert store.drop_last_turn("no-such-chat") is None


def test_titles_and_labels():
    assert title_of("  What   is\nthis? ") == "What is this?"
    long = title_of("word " * 40)
    assert len(long) <= 60 and long.endswith("…")
    from app.ui.chats import Chat

    chat = Chat("id", "Tides", [], 0.0, 1_700_000_000.0)
    assert chat_label(chat, now=1_700_000_000.0).startswith("Tides · ")
    assert chat_label(chat, now=1_800_000_000.0) == "Tides · " + \
        __import__("datetime").datetime.fromtimestamp(1_700_000_000.0).strftime("%Y-%m-%d")
    assert export_name(Chat("id", "Tides / gauges: 1962?", [], 0, 0)) == "Tides-gauges-1962.md"
    assert export_name(Chat("id", "???", [], 0, 0)) == "chat.md"


def test_markers_resolve_to_file_and_page():
    assert resolve_markers("Installed in 1962 [1]. Pears [2, 1]. Gone [7].", SOURCES) == \
        "Installed in 1962 [tides.pdf p.3]. Pears [orchard.pdf p.1][tides.pdf p.3]. Gone ."


def test_the_export_has_every_question_its_answer_and_its_sources(tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite3")
    chat_id = store.create("Tide gauge?", ["tides-doc"])
    store.add_turn(chat_id, turn("Tide gauge?"))
    store.add_turn(chat_id, turn("Pears?", "340 pear trees [2]."))
    text = chat_markdown(store.get(chat_id))
    assert text.startswith("# Tide gauge?\n")
    assert "## Tide gauge?\n\nInstalled in 1962 [tides.pdf p.3]." in text
    assert "## Pears?\n\n340 pear trees [orchard.pdf p.1]." in text
    assert "- [1] tides.pdf, page 3 (Tide gauges)" in text and "- [2] orchard.pdf, page 1\n" in text
    assert "Questions limited to: tides-doc." in text  # no names given: the stored picks
    named = chat_markdown(store.get(chat_id), ["Tide gauges (tides.pdf)"])
    assert "Questions limited to: Tide gauges (tides.pdf)." in named and "tides-doc" not in named
    assert "[1]" not in text.split("Sources:")[0]  # no bare marker left in the answers


@dataclass(frozen=True)
class Doc:
    doc_id: str
    title: str
    paths: tuple[str, ...]
    status: str = "indexed"

    @property
    def name(self) -> str:
        return self.paths[0].rsplit("/", 1)[-1]


LIBRARY = [Doc("a1", "Tide gauges of the coast", ("/lib/coast/tides.pdf",)),
           Doc("b2", "", ("/lib/farm/orchard.pdf",)),
           Doc("c3", "", ("/lib/farm/barn.pdf",)),
           Doc("f4", "", ("/lib/broken.pdf",), status="failed")]


def test_scope_choices_offer_folders_and_matching_documents_only():
    labels = dict((v, k) for k, v in scope_choices(LIBRARY, "", []))
    assert labels["a1"] == "Tide gauges of the coast (tides.pdf)"
    assert "f4" not in labels  # a failed file cannot be searched
    assert FOLDER + "/lib/farm" in labels and "2 documents" in labels[FOLDER + "/lib/farm"]
    assert FOLDER + "/lib" not in labels  # holds every document: no choice
    assert [v for _, v in scope_choices(LIBRARY, "GAUGES", [])] == ["a1"]  # title, any case
    # What is chosen stays offered even when the typed text does not match it.
    assert [v for _, v in scope_choices(LIBRARY, "orchard", ["a1"])] == ["a1", "b2"]
    many = [Doc(f"d{i}", "", (f"/lib/x/doc{i}.pdf",)) for i in range(500)]
    assert len(scope_choices(many, "doc", [])) == SHOWN_CHOICES


def test_scope_summary_says_what_is_searched():
    assert scope_summary([], LIBRARY, None) == "Searching your whole library."
    line = scope_summary(["a1", FOLDER + "/lib/farm"], LIBRARY, 3)
    assert "tides\\.pdf" in line and "folder /lib/farm" in line and "(3 documents)" in line  # escaped
    assert "none of them is in the library" in scope_summary(["gone"], LIBRARY, 0)


def test_viewer_markup_escapes_the_heading_and_places_the_shades():
    out = viewer_html(b"png", [(0.1, 0.25, 0.5, 0.02)], "[1] <b>evil</b>.pdf", 2, 9, 150)
    assert "&lt;b&gt;evil&lt;/b&gt;" in out and "<b>evil" not in out
    assert "page 3 of 9" in out and "width:150%" in out
    assert "left:10.00%;top:25.00%;width:50.00%;height:2.00%" in out
    assert "data:image/png;base64,cG5n" in out
    assert next_zoom(100, 1) == 150 and next_zoom(100, -1) == 100 and next_zoom(300, 1) == 300


def test_stop_marks_the_answer_it_cut_short():
    from app.ui.chat_page import stopped

    asked = [{"role": "user", "content": "q"}]
    assert stopped([*asked, {"role": "assistant", "content": "…"}])[-1]["content"] == "*(stopped)*"
    cut = stopped([*asked, {"role": "assistant", "content": "> quote\n\nThe lamp was …"}])
    assert cut[-1]["content"] == "> quote\n\nThe lamp was\n\n*(stopped)*"
    parts = [{"type": "text", "text": "The lamp …"}]  # as the page sends it back
    assert stopped([*asked, {"role": "assistant", "content": parts}])[-1]["content"] == \
        "The lamp\n\n*(stopped)*"
    done = [*asked, {"role": "assistant", "content": "The lamp was lit [1]."}]
    assert stopped(done) == done and stopped(asked) == asked and stopped([]) == []


def test_taking_back_the_last_question_keeps_what_was_not_finished(tmp_path):
    from types import SimpleNamespace

    from app.ui.chat_page import ChatPage
    from app.ui.render import escape_markdown

    store = ChatStore(tmp_path / "chats.sqlite3")
    chat_id = store.create("Tides?")
    store.add_turn(chat_id, turn("Tides?"))
    store.add_turn(chat_id, turn("Pears (really)?"))
    page = ChatPage(SimpleNamespace(chats=store, settings=SimpleNamespace(
        exports_dir=tmp_path, ocr_cache_path=tmp_path / "ocr-cache.sqlite3")))
    shown = [{"role": "user", "content": escape_markdown("Tides?")},
             {"role": "assistant", "content": "1962 [1]"},
             {"role": "user", "content": [{"type": "text", "text": escape_markdown("Pears (really)?")}]},
             {"role": "assistant", "content": "340 [2]"}]
    history = [("user", "Tides?"), ("assistant", "1962"), ("user", "Pears (really)?"),
               ("assistant", "340")]
    question, chat, kept = page.take_back_last("Pears (really)?", shown, history, chat_id)
    assert (question, chat, kept) == ("Pears (really)?", shown[:2], history[:2])
    assert [t.question for t in store.get(chat_id).turns] == ["Tides?"]
    # A stopped answer is only on screen: it goes, the finished one before it stays.
    stopped_pair = [{"role": "user", "content": "Orchard?"},
                    {"role": "assistant", "content": "*(stopped)*"}]
    question, chat, kept = page.take_back_last("Orchard?", shown[:2] + stopped_pair, history[:2],
                                               chat_id)
    assert (question, chat, kept) == ("Orchard?", shown[:2], history[:2])
    assert [t.question for t in store.get(chat_id).turns] == ["Tides?"]
    assert page.take_back_last("", [], [], None) == ("", [], [])


def test_stop_ends_only_its_own_tabs_answer_and_stopped_is_the_last_frame(tmp_path):
    """Two tabs answering at once: Stop in one ends that answer with "(stopped)" as its last frame
    (nothing streamed after it), while the other tab's answer goes on to the end."""
    import threading
    import time
    from types import SimpleNamespace

    from app.answer.chain import Event
    from app.ui.chat_page import ChatPage, message_text

    class SlowChain:  # tokens a few times a second, like the small model on 2 cores
        def __init__(self) -> None:
            self.closed = threading.Event()

        def stream(self, question, history, scope=None):
            try:
                for n in range(30):
                    time.sleep(0.05)
                    yield Event("token", f" word{n}")
            finally:
                self.closed.set()

    chain = SlowChain()
    page = ChatPage(SimpleNamespace(chats=ChatStore(tmp_path / "chats.sqlite3"), chain=chain,
                                    status_text=lambda: "ready", settings=SimpleNamespace(
                                        exports_dir=tmp_path,
                                        ocr_cache_path=tmp_path / "ocr-cache.sqlite3")))
    for key in ("tab-a", "tab-b"):
        page.stops.arm(key)
    stopped_answer = page.respond("Beacons?", [], [], None, [], "tab-a")
    other_answer = page.respond("Beacons?", [], [], None, [], "tab-b")
    frames = [next(stopped_answer) for _ in range(4)]  # searching, then the first words
    assert "word" in message_text(frames[-1][0][-1])
    page.stops.fire("tab-a")
    rest = list(stopped_answer)
    assert len(rest) == 1 and message_text(rest[-1][0][-1]).endswith("*(stopped)*")
    assert chain.closed.wait(2)  # the chain itself stops, not only the page
    last = list(other_answer)[-1][0][-1]
    assert "word29" in message_text(last) and "stopped" not in message_text(last)
