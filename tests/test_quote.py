"""The extractive quote: pure functions on constructed passages."""

from app.answer.prompting import Source, focus, focus_sources
from app.answer.quote import MAX_QUOTE_CHARS, QUOTE_LEAD, best_quote, locate

FILLER = "The committee met again and discussed the agenda of the harbour at length. "
HARBOUR = (FILLER * 6 + "The dredging contract went to Meridian Marine for 4.7 million euros. "
           "Work on the north channel starts in March. " + FILLER * 6)
GARDEN = "The community garden opens on Saturdays. Tomatoes need six hours of sun. " * 2


def test_the_sentence_with_the_rare_question_words_and_the_next_one_are_quoted():
    quote = best_quote("Who won the dredging contract for the harbour?",
                       [(1, GARDEN), (2, HARBOUR)])
    assert quote is not None and quote.source == 2
    # "harbour" is in every sentence of the passage: the rare "dredging contract" decides.
    assert quote.text == ("The dredging contract went to Meridian Marine for 4.7 million euros. "
                          "Work on the north channel starts in March.")
    assert HARBOUR[quote.start:quote.end] == quote.text
    assert quote.render() == f"{QUOTE_LEAD} \u201c{quote.text}\u201d [2]"


def test_ties_go_to_the_better_ranked_source_and_no_shared_word_means_no_quote():
    same = "Tomatoes need six hours of sun every day in summer."
    assert best_quote("How much sun do tomatoes need?", [(3, same), (1, same)]).source == 3
    assert best_quote("What is the boiling point of nitrogen?", [(1, GARDEN)]) is None
    assert best_quote("the and of", [(1, GARDEN)]) is None  # no content word at all


def test_a_long_quote_keeps_one_sentence_and_one_endless_sentence_is_cut_at_a_word():
    long_next = "Meridian Marine " + "dredged and dredged again " * 40 + "."
    text = "The dredging contract went to Meridian Marine. " + long_next
    quote = best_quote("Who won the dredging contract?", [(1, text)])
    assert quote.text == "The dredging contract went to Meridian Marine."
    endless = "dredging contract " + "and more words " * 100
    cut = best_quote("Which dredging contract?", [(1, endless)])
    assert len(cut.text) <= MAX_QUOTE_CHARS and not cut.text.endswith(" ")


def test_the_focused_source_keeps_the_quote_whole_and_the_span_follows_it():
    quote = best_quote("Who won the dredging contract?", [(1, HARBOUR)])
    anchor = (quote.start, quote.end)
    # A budget shorter than the quote widens to it; a larger one keeps context around it.
    for budget in (60, 300):
        window = focus(HARBOUR, "Who won the dredging contract?", budget, anchor)
        assert quote.text in window and len(window) <= max(budget, len(quote.text) + 2) + 4
    sources = focus_sources([Source(1, "harbour.pdf", 0, HARBOUR)], "contract", [300],
                            {1: anchor})
    moved = locate(quote, sources)
    assert moved.source == 1 and sources[0].text[moved.start:moved.end] == quote.text
    # A source trimmed, or dropped, so that the quote is gone: no span to shade.
    assert locate(quote, [Source(1, "harbour.pdf", 0, HARBOUR[:quote.start + 10])]) is None
    assert locate(quote, [Source(2, "garden.pdf", 0, GARDEN)]) is None


def test_locate_finds_the_quote_across_line_breaks_of_the_source():
    text = "Intro words here.\nThe dredging contract went\nto Meridian   Marine. More."
    quote = best_quote("Who won the dredging contract?", [(1, text)])
    assert quote.text.startswith("The dredging contract went to Meridian Marine.")
    found = locate(quote, [Source(1, "a.pdf", 0, text)])
    assert text[found.start:found.end].split() == quote.text.split()
