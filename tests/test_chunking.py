import pytest

from ingest.chunking import chunk_pages, split_text
from ingest.models import Page

TEXT = (
    "First paragraph sentence one. Sentence two is here.\n\n"
    + "Second paragraph with many words that go on and on. " * 20
    + "\n\nThird paragraph ends here."
)


@pytest.mark.parametrize(("size", "overlap"), [(100, 0), (200, 40), (500, 100), (1000, 150)])
def test_spans_are_bounded_ordered_and_cover_all_text(size, overlap):
    spans = list(split_text(TEXT, size, overlap))
    assert all(end - start <= size for start, end in spans)
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(spans, spans[1:], strict=False))
    covered = set()
    for start, end in spans:
        covered.update(range(start, end))
    assert all(i in covered for i, ch in enumerate(TEXT) if not ch.isspace())


def test_overlap_repeats_text_between_neighbours():
    spans = list(split_text(TEXT, 200, 60))
    overlaps = [a[1] - b[0] for a, b in zip(spans, spans[1:], strict=False)]
    assert all(o > 0 for o in overlaps)
    assert max(overlaps) <= 60


def test_breaks_prefer_sentence_ends():
    spans = list(split_text(TEXT, 300, 0))
    ends = [TEXT[end - 1] for _, end in spans[:-1]]
    assert all(ch == "." for ch in ends)


def test_text_without_spaces_is_still_split():
    assert list(split_text("x" * 250, 100, 20)) == [(0, 100), (100, 200), (200, 250)]


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (100, 100), (100, -1)])
def test_invalid_parameters_raise(size, overlap):
    with pytest.raises(ValueError):
        list(split_text("text", size, overlap))


def test_chunks_never_cross_pages_and_keep_offsets():
    pages = [Page(0, TEXT), Page(1, ""), Page(2, "Short last page.")]
    chunks = chunk_pages(pages, 200, 40)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert {c.page for c in chunks} == {0, 2}
    for c in chunks:
        assert pages[c.page].text[c.char_start : c.char_end] == c.text


def test_pages_with_only_punctuation_give_no_chunks():
    assert chunk_pages([Page(0, ". - ."), Page(1, "12")], 200, 0) == []
