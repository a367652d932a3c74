"""The claim check and the answerability check: pure functions, constructed answers."""

import pytest

from app.answer.answerability import missing_question_terms, question_terms
from app.answer.claims import NOT_FOUND_NOTE, ClaimStream, check_answer, split_sentences
from app.answer.prompting import Source
from app.answer.terms import missing_terms, numbers_in

LAB = Source(1, "lab.pdf", 1, "Favipiravir was tested in vitro against SARS-CoV-2. The EC50 was "
             "61.88 μM in Vero E6 cells, and the drug was well tolerated by the cells.")
CLINIC = Source(2, "clinic.pdf", 4, "The median incubation period was 5.2 days (95% CI, 4.1 to "
                "7.0). Most patients had fever and a dry cough. Children were rarely admitted.")
SOURCES = [LAB, CLINIC]


def test_an_invented_dose_cited_to_a_real_page_is_not_shown_as_cited():
    text = ("The 2021 guideline recommended favipiravir at a dose of 40 mg/kg body weight [1]. "
            "Favipiravir was tested in vitro against SARS-CoV-2 [1].")
    checked = check_answer(text, SOURCES, "What dose of favipiravir does the guideline recommend?")
    invented, true = checked.claims
    assert invented.verdict == "unsupported"
    assert "40" in invented.missing and invented.shown == ()
    assert true.verdict == "supported" and true.shown == (1,)
    assert "40 mg/kg body weight" in checked.text
    assert "body weight [1]" not in checked.text and NOT_FOUND_NOTE in checked.text


def test_a_wrong_marker_moves_to_the_source_that_supports_the_claim():
    checked = check_answer("The median incubation period was 5.2 days [1].", SOURCES,
                           "What was the median incubation period?")
    (claim,) = checked.claims
    assert claim.verdict == "moved"
    assert claim.cited == (1,) and claim.shown == (2,)
    assert checked.text == "The median incubation period was 5.2 days [2]."
    span = CLINIC.text[claim.evidence.start:claim.evidence.end]
    assert claim.evidence.source == 2 and "5.2 days" in span


def test_a_fully_supported_answer_keeps_its_markers():
    text = "Most patients had fever and a dry cough [2]. The EC50 was 61.88 μM in Vero E6 cells [1]."
    checked = check_answer(text, SOURCES, "What symptoms did patients have?")
    assert [c.verdict for c in checked.claims] == ["supported", "supported"]
    assert not checked.mostly_unsupported
    assert checked.text == text
    assert checked.cited_numbers == [2, 1]


def test_an_uncited_supported_sentence_gets_its_source():
    checked = check_answer("Children were rarely admitted.", SOURCES, "Were children admitted?")
    assert checked.claims[0].verdict == "cited by the check"
    assert checked.text == "Children were rarely admitted [2]."


def test_mostly_unsupported_answers_are_refused():
    text = ("Favipiravir should be given at 1,600 mg twice daily [1]. Treatment lasts 14 days [1]. "
            "Most patients had fever [2].")
    checked = check_answer(text, SOURCES, "How is favipiravir dosed?")
    assert checked.mostly_unsupported


def test_words_the_source_lacks_make_a_claim_unsupported_even_without_numbers():
    checked = check_answer("Favipiravir inhibits the viral RNA-dependent RNA polymerase [1].",
                           SOURCES, "How does favipiravir work?")
    assert checked.claims[0].verdict == "unsupported"


def test_restating_the_question_is_not_a_claim_to_refuse():
    checked = check_answer("I could not find this in your documents.", SOURCES, "Anything?")
    assert checked.claims[0].verdict == "not a claim" and not checked.mostly_unsupported


@pytest.mark.parametrize(("text", "expected"), [
    ("One [1]. Two [2].", [("One.", (1,)), ("Two.", (2,))]),
    ("One. [1] Two. [2][3]", [("One.", (1,)), ("Two.", (2, 3))]),
    ("[1] The rate rose. It fell [2].", [("The rate rose.", (1,)), ("It fell.", (2,))]),
    ("As Li et al. reported, it rose [1]. Next.", [("As Li et al. reported, it rose.", (1,)),
                                                   ("Next.", ())]),
    ("Values of 5 vs. 7 [1]. Done.", [("Values of 5 vs. 7.", (1,)), ("Done.", ())]),
    ("- first item [1]\n- second item [2]", [("first item", (1,)), ("second item", (2,))]),
    ("It costs $1.5 billion [1].", [("It costs $1.5 billion.", (1,))]),
    ("1. Universal PCR; 2. Random priming [1]. It works.",
     [("1. Universal PCR; 2. Random priming.", (1,)), ("It works.", ())]),
    ("The rate was 5. Then it fell [2].", [("The rate was 5.", ()), ("Then it fell.", (2,))]),
    ("The CDC reported 27 U.S. states [1]. Done.", [("The CDC reported 27 U.S. states.", (1,)),
                                                    ("Done.", ())]),
])
def test_sentences_keep_the_markers_that_follow_them(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize(("text", "numbers"), [
    ("1,577 and 1,373", {"1577", "1373"}),
    ("5.20 days", {"5.2"}),
    ("COVID-19 in 2020", {"2020"}),
    ("five patients", {"5"}),
])
def test_numbers_are_canonical(text, numbers):
    assert numbers_in(text) == numbers


def test_a_rounded_figure_matches_its_source():
    assert missing_terms("It was 1.58 million.", "It was 1.577 million.") == []
    assert missing_terms("It was 1.6 billion.", "It was 1,577 million.") == ["1.6"]


def test_the_stream_shows_a_sentence_only_once_its_markers_are_in():
    stream = ClaimStream(SOURCES, "What was the median incubation period?")
    text = "The median incubation period was 5.2 days. [2] Most patients had fever [2]."
    seen = []
    shown_text = ""
    for position, char in enumerate(text):
        for item in stream.feed(char):
            if isinstance(item, str):
                shown_text += item
            else:
                seen.append((position, item.shown))
    seen += [(len(text), c.shown) for c in stream.flush()]
    first_end = text.index("[2]") + 3
    assert seen[0][0] >= first_end and seen[0][1] == (2,)
    assert [shown for _, shown in seen] == [(2,), (2,)]
    assert "[" not in shown_text and "5.2 days" in shown_text  # unchecked text, no markers


@pytest.mark.parametrize(("question", "terms"), [
    ("What dose of favipiravir did the 2021 WHO guideline recommend?", ["2021", "WHO"]),
    ("What was Apple's FY2019 capital expenditure?", ["apple", "2019"]),
    ("What is the role of ACE2 in SARS-CoV-2 entry?", ["ACE2", "sars-cov-2"]),
    ("What is the incubation period?", []),
])
def test_question_terms(question, terms):
    assert question_terms(question) == terms


def test_a_question_naming_what_the_passages_lack_is_caught():
    passages = [LAB.text, CLINIC.text]
    assert missing_question_terms("What dose of favipiravir did the 2021 WHO guideline "
                                  "recommend?", passages) == ["2021", "WHO"]
    assert missing_question_terms("What was the EC50 of favipiravir against SARS-CoV-2?",
                                  passages) == []
    # "who" the word is no match for WHO the organisation
    assert missing_question_terms("Did WHO test it?", ["Those who tested it."]) == ["WHO"]
    assert missing_question_terms("Did WHO test it?", ["Who tested it? Nobody."]) == ["WHO"]
    # An acronym typed in capitals finds its mixed-case spelling; a long name finds itself
    # with one typo; another name of the same length does not.
    assert missing_question_terms("Which HCOV strains?", ["HCoV-OC43 strains"]) == []
    assert missing_question_terms("What is Clodstridium?", ["Clostridium difficile"]) == []
    assert missing_question_terms("What is Klebsiella?", ["Clostridium difficile"]) == [
        "klebsiella"]


def test_a_number_of_another_drug_in_the_same_passage_does_not_support_the_claim():
    vet = Source(1, "vet.pdf", 3, "Coccidiosis is common in lambs. Diclazuril was licensed for "
                 "lambs in 2001. Many farms were visited. Feed was weighed. Water was tested. "
                 "Ten lambs were treated with the recommended dose of 20 mg/kg toltrazuril.")
    question = "What dose of diclazuril is recommended for treating coccidiosis in lambs?"
    invented = check_answer("The recommended dose of diclazuril for treating coccidiosis in "
                            "lambs is 20 mg/kg [1].", [vet], question).claims[0]
    assert invented.verdict == "unsupported" and "20" in invented.missing
    # The same number stated next to its subject is supported.
    true = check_answer("The recommended dose of toltrazuril for lambs is 20 mg/kg [1].", [vet],
                        "What dose of toltrazuril is recommended for lambs?").claims[0]
    assert true.verdict == "supported"


def test_a_copied_source_list_keeps_the_passage_that_answers_without_its_labels():
    """A small model may answer by copying the numbered source list, labels and all: the label
    is dropped (its file name would make the sentence unsupported), the copied passage that
    bears on the question stays, cited to its source, and the rest of the list goes."""

    sources = [Source(1, "harbor report.pdf", 1, "The Harbor Authority awarded the dredging "
                      "contract to Meridian Marine for 4.7 million euros.", "/d/h.pdf", 0.9),
               Source(2, "garden.pdf", 0, "The committee reviewed the roses programme. Several "
                      "members noted that the roses budget had grown.", "/d/g.pdf", 0.5)]
    raw = ("[1] harbor report.pdf, page 2: The Harbor Authority awarded the dredging contract to "
           "Meridian Marine for 4.7 million euros.\n[2] garden.pdf, page 1: The committee reviewed "
           "the roses programme. Several members noted that the roses budget had grown.\n")
    stream = ClaimStream(sources, "Who got the dredging contract?")
    for char in raw:
        stream.feed(char)
    stream.flush()
    assert stream.answer.text == ("The Harbor Authority awarded the dredging contract to Meridian "
                                  "Marine for 4.7 million euros [1].")
    # Markers the model puts after a full stop still belong to the sentence before them.
    stream = ClaimStream(sources, "Who got the dredging contract?")
    for char in "Meridian Marine got the dredging contract.\n[1]\n":
        stream.feed(char)
    stream.flush()
    assert stream.answer.text == "Meridian Marine got the dredging contract [1]."
