import pytest

from ingest.clean import clean_pages, join_hyphenated, normalize, running_lines


def test_nfkc_splits_ligatures_and_folds_spaces():
    assert normalize("the \ufb01rst  e\ufb00ort\u00a0here ") == "the first effort here"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("exam-\nple", "example"),
        ("infor-\n  mation", "information"),
        ("COVID-\n19", "COVID-19"),
        ("Well-\nKnown", "Well-\nKnown"),  # capitalised continuation: likely a real hyphen
        ("pre- school", "pre- school"),
    ],
)
def test_join_hyphenated(raw, expected):
    assert join_hyphenated(raw) == expected


FRUIT = ["apples", "pears", "plums", "figs", "limes", "dates", "kiwis", "grapes", "melons"]


def _doc(n):
    return [f"ACME Corp Annual Report\nBody text about {FRUIT[i]}.\n{i + 1}" for i in range(n)]


def test_running_headers_and_page_numbers_removed():
    cleaned = clean_pages(_doc(6))
    assert cleaned[2] == "Body text about plums."
    assert all("ACME Corp" not in page for page in cleaned)


def test_varying_page_numbers_count_as_one_running_line():
    pages = [f"Report 2023 — page {i} of 9\nContent on {FRUIT[i - 1]}" for i in range(1, 10)]
    assert any(key.startswith("report # — page # of #@") for key in running_lines(pages))
    assert clean_pages(pages)[4] == "Content on limes"


def test_body_lines_that_repeat_in_the_middle_are_kept():
    pages = [f"Intro {i}\nline a {i}\nTotal revenue\nline b {i}\nOutro {i}" for i in range(5)]
    assert all("Total revenue" in page for page in clean_pages(pages))


def test_numbered_body_lines_are_not_headers():
    pages = [f"Note {i * 3} on {FRUIT[i]}\nMore on {FRUIT[i]}.\nTotal {i * 7 + 100}" for i in range(8)]
    cleaned = clean_pages(pages)
    assert cleaned[3] == "Note 9 on figs\nMore on figs.\nTotal 121"


def test_short_documents_keep_their_edges():
    pages = ["Title line\nBody one", "Title line\nBody two"]
    assert clean_pages(pages) == pages


def test_blank_and_whitespace_pages_become_empty():
    assert clean_pages(["", "   \n \n", "\x00\x01"]) == ["", "", ""]


def test_years_at_page_edges_are_not_taken_for_page_numbers():
    pages = ["Revenue by year\n2019", "Other text\nmore"]
    assert clean_pages(pages)[0].endswith("2019")
