"""The numbers of candidate scoring, in one place: what each rewards or penalises."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScoringWeights:
    """The numbers of candidate scoring; a candidate's score is fit * factors * relevance.

    Factors above 1 reward, below 1 penalise. A change moves answers: measure it with the
    evaluation sets in eval/ (`regionqa eval`) before keeping it.
    """

    # Type fit (_fit): how well the candidate's label answers what the question asks for.
    fit_primary: float = 1.0  # the label asked for (who -> PERSON)
    fit_secondary: float = 0.55  # an acceptable label (who -> ORG)
    fit_phrase: float = 0.25  # a phrase (NP, title, place phrase...) where a typed answer is asked for
    fit_other: float = 0.1  # any other label
    fit_untyped_phrase: float = 0.6  # a phrase answering a "thing" question (no typed wh-word)
    fit_untyped: float = 0.5  # an entity or figure answering a "thing" question
    fit_untyped_amount: float = 0.8  # money or a quantity for a "thing" question naming an amount noun
    fit_proper_name: float = 0.8  # an unlabelled capitalised name where a person, place or org is asked for
    fit_focus_floor: float = 1.0  # a phrase naming the focus noun ("Roadmap for ..."): at least this fit,
    fit_focus_boost: float = 1.2  # then times this
    fit_place_of: float = 1.1  # the least fit of a whole "coast of the Caspian Sea" when a place phrase is asked for
    # Factors (_score).
    repeat_penalty: float = 0.85  # share of the score lost when every word repeats the question
    excluded: float = 0.1  # a candidate the question rules out ("apart from Astana")
    range_end_wanted: float = 1.05  # the end of a range the question's cue or year asks for
    range_end_unwanted: float = 0.6  # the other end
    whole_range: float = 0.7  # the whole range when the question asks for one end (a cue or a year)
    unit_named: float = 1.2  # a figure in a unit the question names ("in tons", "$")
    unit_other: float = 0.3  # a figure in another unit when the question names one
    focus_next_to: float = 1.25  # named by the focus noun next to it: "the city of Fizuli", "the company CESI"
    preposition: float = 1.15  # a place after "in"/"at"..., a date after "in"/"since"...
    long_words: int = 6  # more content words than this scale the score by long_words / count
    # Relevance: the candidate's sentence and its closeness to the question's words.
    sentence_share: float = 0.55  # weight of the sentence's relevance
    proximity_share: float = 0.45  # weight of the closeness (_proximity)
    clause_gap: float = 2.0  # extra words of distance for each comma or semicolon crossed
    free_distance: int = 1  # words of distance that cost nothing (the next word)
    distance_decay: float = 6.0  # words of distance over which a question word's pull falls by 1/e
    # Sentence relevance (rank_candidates).
    select_coverage: float = 0.8  # choosing the sentences worth embedding: question-word coverage,
    select_rank: float = 0.2  # and 1 / passage rank
    relevance_cosine: float = 0.5  # a sentence's relevance: embedding similarity to the question,
    relevance_coverage: float = 0.4  # question-word coverage,
    relevance_rank: float = 0.1  # and 1 / passage rank
    # Superlatives (_promote_extreme).
    extreme_repeated: float = 0.5  # an entity repeating the question this much is no answer ("Central Asian")
    extreme_anchor: float = 0.5  # an entity in more than this share of the rows is the anchor, not an answer
    extreme_rows: int = 3  # the fewest entity-figure rows to compare
    extreme_boost: float = 1.2  # the promoted entity's score: the best score times this


SCORING_WEIGHTS = ScoringWeights()
