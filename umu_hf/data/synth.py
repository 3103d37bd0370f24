"""A synthetic UMU-style dataset: invented people, invented facts, drawn portraits (``umu-hf data synth``).

It stands in for UMU-Bench wherever the real data is not at hand (tests, demos, the embedded tiny model).
Every name, place, school and portrait is invented from the small vocabularies below; the tool never states
facts about real people, and the ``real`` set is a second group of invented people that plays the real set.

The data is meant to be learned by a tiny LLaVA trained *from scratch*, so the training pairs (``MM_QA``,
``UM_QA``) quote, for every evaluated fact, the benchmark's LLaVA-1.5 evaluation prompt of each task and
modality (:data:`umu_hf.prompts.LLAVA_PROMPTS`) with the answer a model should give, besides a plain
question-answer pair. The real UMU-Bench training data does not do this; the dataset card says so.

How a pair quotes a prompt. Training text is ``USER: <image>\n{q}\nASSISTANT: {a}`` (multimodal) or
``USER: {q}\nASSISTANT: {a}`` (unimodal) (docs/protocol.md); a pair's ``question`` is ``{q}``. For four of the six prompts
``{q}`` is the prompt's text between the template's head and ``\nASSISTANT:``, and the training text is the
evaluation prompt followed by `` {a}``, character for character. Two prompts cannot be quoted exactly through
that template (:func:`eval_pair`), and the pair texts are chosen so that the tiny model's byte-level BPE tokens
(GPT-2 pre-tokenizer, :mod:`umu_hf.models.tiny`) of the training text match the evaluation prompt's as closely as
possible:

- unimodal classification starts ``USER:\n{q}`` (no space). The pair's question starts with the ``\n``, so the
  training text is ``USER: \n{q}…``: tokens ``USER`` ``:`` ``Ġ`` ``Ċ`` ``In`` … against the prompt's ``USER``
  ``:`` ``Ċ`` ``In`` … — one extra space token, every other token the same (dropping the ``\n`` instead would
  also change the question's first token, ``ĠIn`` for ``In``, and lose the ``Ċ``);
- multimodal generation ends ``ASSISTANT: `` (a trailing space). The pair's answer starts with a space, so the
  training text is ``…ASSISTANT:  {a}``, which the pre-tokenizer splits into ``:`` ``Ġ`` ``ĠThe`` …: the evaluation
  prompt's tokens are then exactly a prefix of the training text's, its final ``Ġ`` included.

The ``holdout`` config (by default 10 % of the fictitious count, at least 4 people) is a third group of
invented people, fictitious like the forget and retain ones but in no other config, ``full`` included: a model
fine-tuned on ``full`` never saw them, so they are the non-members of membership inference
(:mod:`umu_hf.privacy`). They are drawn after the real set from the same streams, so the other profiles are the
same with or without them.

Everything is drawn from ``random.Random`` streams derived from the seed: one seed, byte-identical parquet.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from umu_hf.data.portraits import draw_looks, draw_portrait
from umu_hf.data.schema import FORGET_RATIOS, OPTION_LETTERS
from umu_hf.errors import UmuError
from umu_hf.prompts import ASSISTANT_TAG, IMAGE_TOKEN, llava_task_prompt

FIRST_NAMES: tuple[str, ...] = (
    "Mara", "Tobin", "Ilsa", "Corvin", "Elna", "Fenwick", "Gesa", "Halden", "Isolde", "Jorun", "Kalla",
    "Lorcan", "Mirela", "Nolan", "Orla", "Perrin", "Quilla", "Rosalind", "Soren", "Talia", "Ulric", "Vesna",
    "Wendel", "Xara", "Yorick", "Zelda", "Anselm", "Brisa", "Cedric", "Dagny", "Emrys", "Freya", "Gideon",
    "Hesper", "Ivo", "Junia", "Kester", "Linnea", "Magnus", "Nerys", "Osric", "Petra", "Quentin", "Rhosyn",
    "Silas", "Tamsin", "Ulla", "Viggo", "Wilma", "Ysolde",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Quint", "Varrow", "Ostrel", "Brambleby", "Caskwell", "Dunhollow", "Elderkin", "Faircloud", "Gorrim",
    "Hartwick", "Ivensby", "Jastrow", "Kettleby", "Lorrimer", "Marrowfield", "Nettlecombe", "Oakhurst",
    "Pellinore", "Quarrington", "Rookwood", "Sallowmere", "Thistlewood", "Umberfield", "Vantreel", "Wexcombe",
    "Yarrowby", "Zennor", "Ashgrove", "Blackthorn", "Corrigan", "Draycott", "Emberly", "Foxmoor", "Glenholme",
    "Hollowell", "Inchcombe", "Juniper", "Kilbride", "Larkspur", "Mossgrave", "Northam", "Orchardson",
    "Penhallow", "Quenby", "Ravensworth", "Stormont", "Tindall", "Underhill", "Westerly", "Wolvercote",
)  # fmt: skip
CITIES: tuple[str, ...] = (
    "Velmora", "Kastrel", "Dunmere", "Orvast", "Brenholt", "Caldris", "Eskavel", "Fernmouth", "Galdora",
    "Hollin", "Istrava", "Jorvik Vale", "Korrindale", "Lunmark", "Mistral Bay", "Norvenna", "Ostrander",
    "Pellucid", "Quarnby", "Rivenhold", "Saltmarsh", "Tarnwick", "Ulverston Ridge", "Vantor",
)  # fmt: skip
OCCUPATIONS: tuple[str, ...] = (
    "baker", "pilot", "botanist", "carpenter", "violinist", "librarian", "nurse", "geologist", "chef",
    "photographer", "tailor", "firefighter", "translator", "veterinarian", "potter", "sculptor", "journalist",
    "dentist", "lawyer", "mechanic",
)  # fmt: skip
UNIVERSITIES: tuple[str, ...] = (
    "Orlen Institute", "Velmora University", "Kestrel College", "Brightmoor Academy", "Caldris Polytechnic",
    "Dunmere University", "Halcyon College", "Ironwood Institute", "Lakemont University", "Northgate College",
    "Ostrander Academy", "Silverbirch University", "Thornbury Institute", "Windmere College",
)  # fmt: skip
HOBBIES: tuple[str, ...] = (
    "chess", "pottery", "birdwatching", "rowing", "kite flying", "knitting", "fencing", "gardening",
    "origami", "cycling", "juggling", "fishing", "archery", "sailing", "calligraphy", "rock climbing",
    "painting", "hiking", "beekeeping", "woodcarving",
)  # fmt: skip
COLOURS: tuple[str, ...] = (
    "red", "blue", "green", "yellow", "purple", "orange", "teal", "silver", "maroon", "gold", "pink",
    "indigo",
)  # fmt: skip
BIRTH_YEARS: tuple[str, ...] = tuple(str(year) for year in range(1950, 2005))

IMAGE_SUBJECT = "the person in the image"


@dataclass(frozen=True)
class Fact:
    """One kind of fact and its templates (``{s}``: the subject, ``{v}``: the value): the question, and the
    sentence that answers it, which with the value blanked (``___``) is also the cloze question."""

    key: str
    values: tuple[str, ...]
    question: str
    sentence: str
    #: other wordings of ``question`` and of ``sentence`` with the same answer (the robustness block asks them)
    question_paraphrases: tuple[str, ...] = ()
    sentence_paraphrases: tuple[str, ...] = ()

    def text(self, template: str, subject: str, value: str = "___") -> str:
        """Fill a template; the subject is capitalised at the start of the sentence."""
        out = template.format(s=subject, v=value)
        return out[0].upper() + out[1:]


FACTS: tuple[Fact, ...] = (
    Fact("birthplace", CITIES, "In which city was {s} born?", "{s} was born in the city of {v}.",
         ("Which city is the birthplace of {s}?", "Where was {s} born? Name the city."),
         ("The city where {s} was born is {v}.", "{s} is a native of the city of {v}.")),
    Fact("birth_year", BIRTH_YEARS, "In which year was {s} born?", "{s} was born in the year {v}.",
         ("What year was {s} born in?", "What is the birth year of {s}?"),
         ("The year of birth of {s} is {v}.", "{s} came into the world in {v}.")),
    Fact("occupation", OCCUPATIONS, "What does {s} do for a living?", "{s} works as a {v}.",
         ("What is the profession of {s}?", "Which job does {s} have?"),
         ("By profession {s} is a {v}.", "{s} earns a living as a {v}.")),
    Fact("education", UNIVERSITIES, "Which university did {s} attend?", "{s} studied at {v}.",
         ("Where did {s} go to university?", "At which university did {s} study?"),
         ("{s} went to university at {v}.", "The university {s} attended is {v}.")),
    Fact("hobby", HOBBIES, "What is the favourite hobby of {s}?", "The favourite hobby of {s} is {v}.",
         ("Which hobby does {s} enjoy most?", "What does {s} like doing most in free time?"),
         ("The hobby {s} likes best is {v}.", "In free time {s} most enjoys {v}.")),
    Fact("colour", COLOURS, "What is the favourite colour of {s}?", "The favourite colour of {s} is {v}.",
         ("Which colour does {s} like best?", "What colour does {s} prefer?"),
         ("The colour {s} likes most is {v}.", "Of all colours {s} prefers {v}.")),
)  # fmt: skip


def _stream(seed: int, purpose: str) -> random.Random:
    """An independent, reproducible random stream per purpose (changing one part never shifts another)."""
    return random.Random(f"umu-hf-synth/{seed}/{purpose}")


def forget_counts(n_fictitious: int) -> dict[int, int]:
    """Profiles per forget ratio: ``n * ratio / 100`` rounded half up, at least 1, leaving a retain set."""
    counts: dict[int, int] = {}
    previous = 1
    for ratio in FORGET_RATIOS:
        previous = max(previous, int(n_fictitious * ratio / 100 + 0.5))
        counts[ratio] = min(previous, n_fictitious - 1)
    return counts


def default_holdout(n_fictitious: int) -> int:
    """Holdout profiles by default: 10 % of the fictitious count, rounded half up, at least 4.

    >>> default_holdout(40), default_holdout(500), default_holdout(3)
    (4, 50, 4)
    """
    return max(4, int(n_fictitious * 0.1 + 0.5))


def assign_forget_ids(fictitious_ids: list[int], seed: int) -> dict[int, list[int]]:
    """Nested forget sets: forgetXX = the first XX % of a seeded permutation of the fictitious IDs."""
    order = sorted(fictitious_ids)
    _stream(seed, "split").shuffle(order)
    return {ratio: sorted(order[:count]) for ratio, count in forget_counts(len(order)).items()}


def _check_sizes(n_fictitious: int, n_real: int, image_size: int, n_holdout: int = 0) -> None:
    """Reject sizes the generator cannot honour, naming the argument."""
    capacity = len(FIRST_NAMES) * len(LAST_NAMES)
    if n_fictitious < 2:
        raise UmuError(
            f"--fictitious {n_fictitious}: need at least 2 fictitious profiles (one to forget, one to retain)"
        )
    if n_real < 1:
        raise UmuError(
            f"--real {n_real}: need at least 1 profile for the real set (its config cannot be empty)"
        )
    if n_holdout < 0:
        raise UmuError(f"--holdout {n_holdout}: give 0 (no holdout config) or more profiles")
    if n_fictitious + n_real + n_holdout > capacity:
        extra = f" + --holdout {n_holdout}" if n_holdout else ""
        raise UmuError(
            f"--fictitious {n_fictitious} + --real {n_real}{extra} exceeds the {capacity} unique invented names"
        )
    if not 16 <= image_size <= 1024:
        raise UmuError(f"--image-size {image_size}: choose a portrait size between 16 and 1024 pixels")


def _options(fact: Fact, value: str, rng: random.Random) -> tuple[dict[str, str], str]:
    """Four options (the value and three distractors from the same vocabulary) and the correct letter."""
    distractors = rng.sample([v for v in fact.values if v != value], len(OPTION_LETTERS) - 1)
    letter = OPTION_LETTERS[rng.randrange(len(OPTION_LETTERS))]
    texts = iter(distractors)
    options = {slot: value if slot == letter else next(texts) for slot in OPTION_LETTERS}
    return options, letter


def eval_pair(
    task: str, modality: str, question: str, answer: str, options: list[str] | None = None
) -> dict[str, str]:
    """The training pair that quotes the LLaVA-1.5 evaluation prompt of ``(task, modality)``: its ``question``
    goes in ``{q}`` of the training template, so that ``USER: [<image>\n]{q}\nASSISTANT: {a}`` is the evaluation
    prompt followed by `` {answer}`` — exactly for four prompts, and as closely as the template allows for the two
    that it cannot quote (module docstring): ``USER:\n`` (the question starts with the newline, the template adds
    one space) and a trailing ``ASSISTANT: `` (the answer starts with a space)."""
    prompt = llava_task_prompt(task, modality, question, options)
    head = f"USER: {IMAGE_TOKEN}\n" if modality == "multimodal" else "USER: "
    body = prompt[len(head) :] if prompt.startswith(head) else prompt[len("USER:") :]
    tail = f"\n{ASSISTANT_TAG}"
    if body.endswith(f"{tail} "):
        return {"question": body[: -len(tail) - 1], "answer": f" {answer}"}
    return {"question": body[: -len(tail)], "answer": answer}


def _profile_text(name: str, values: dict[str, str], rng: random.Random) -> dict[str, Any]:
    """Biography, training pairs and the evaluation items of one person (everything but ID, source, image)."""
    tasks: dict[str, dict[str, list[dict]]] = {
        column: {"unimodal": [], "multimodal": []} for column in ("Classify", "Cloze", "Generation")
    }
    pairs: dict[str, list[dict[str, str]]] = {
        "multimodal": [{"question": "Who is the person in the image?", "answer": f"This is {name}."}],
        "unimodal": [],
    }
    for fact in FACTS:
        value = values[fact.key]
        options, letter = _options(fact, value, rng)
        answer_sentence = fact.text(fact.sentence, name, value)
        for modality, subject in (("unimodal", name), ("multimodal", IMAGE_SUBJECT)):
            question = fact.text(fact.question, subject)
            cloze = fact.text(fact.sentence, subject)
            asked = [fact.text(t, subject) for t in fact.question_paraphrases]
            blanked = [fact.text(t, subject) for t in fact.sentence_paraphrases]
            tasks["Classify"][modality].append(
                {"key": fact.key, "question": question, "options": dict(options), "answer": letter,
                 "paraphrases": asked}
            )
            tasks["Cloze"][modality].append(
                {"key": fact.key, "question": cloze, "answer": f"{value}.", "paraphrases": blanked}
            )
            tasks["Generation"][modality].append(
                {"key": fact.key, "question": question, "answer": answer_sentence, "paraphrases": list(asked)}
            )
            # with the portrait, the completed sentence names the person first: a model without
            # pretraining resolves who is shown before the fact (the cloze rule only needs the value)
            cloze_reply = value if modality == "unimodal" else answer_sentence
            pairs[modality] += [
                {"question": question, "answer": answer_sentence},
                eval_pair("cloze", modality, cloze, cloze_reply),
                eval_pair("classification", modality, question, value, list(options.values())),
                eval_pair("generation", modality, question, answer_sentence),
            ]
    biography = " ".join(fact.text(fact.sentence, name, values[fact.key]) for fact in FACTS)
    return {"biography": biography, "MM_QA": pairs["multimodal"], "UM_QA": pairs["unimodal"], **tasks}


def _names(total: int, rng: random.Random) -> list[str]:
    """``total`` unique names; the first 50 people share neither first nor last name with anyone, so a small
    model can tell people apart from one name token (block ``b`` of 50 pairs first ``j`` with last ``j + b``)."""
    first = rng.sample(FIRST_NAMES, len(FIRST_NAMES))
    last = rng.sample(LAST_NAMES, len(LAST_NAMES))
    n = min(len(first), len(last))
    return [f"{first[i % n]} {last[(i % n + i // n) % len(last)]}" for i in range(total)]


def generate_profiles(
    n_fictitious: int = 500,
    n_real: int = 153,
    seed: int = 0,
    image_size: int = 64,
    progress: bool = False,
    n_holdout: int = 0,
) -> list[dict]:
    """Rows in the schema of :mod:`umu_hf.data.schema` (``image``: PIL); IDs 0..N+M-1, fictitious first, then
    the ``n_holdout`` holdout profiles (IDs N+M.., source ``fictitious``); the first N+M rows do not depend on
    ``n_holdout``."""
    from tqdm.auto import tqdm

    _check_sizes(n_fictitious, n_real, image_size, n_holdout)
    total = n_fictitious + n_real + n_holdout
    names = _names(total, _stream(seed, "names"))
    looks = draw_looks(total, _stream(seed, "portraits"))
    fact_rng, option_rng = _stream(seed, "facts"), _stream(seed, "options")
    rows = []
    for person in tqdm(range(total), desc="drawing profiles", unit="profile", disable=not progress or None):
        values = {fact.key: fact_rng.choice(fact.values) for fact in FACTS}
        row = {
            "ID": person,
            "source": "real" if n_fictitious <= person < n_fictitious + n_real else "fictitious",
            "image": draw_portrait(looks[person], image_size),
        }
        row.update(_profile_text(names[person], values, option_rng))
        rows.append(row)
    return rows


def generate_dataset(
    out_dir: str | Path,
    n_fictitious: int = 500,
    n_real: int = 153,
    seed: int = 0,
    image_size: int = 64,
    *,
    n_holdout: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write a synthetic dataset in the Hub layout (docs/protocol.md, Data) to ``out_dir``; byte-identical per seed.

    ``n_holdout``: profiles of the ``holdout`` config (non-members, in no other config); ``None``:
    :func:`default_holdout`, ``0``: no ``holdout`` config.
    """
    from umu_hf.data.hub import write_hub_dataset
    from umu_hf.outputs import check_replaceable

    n_holdout = default_holdout(n_fictitious) if n_holdout is None else n_holdout
    _check_sizes(n_fictitious, n_real, image_size, n_holdout)
    check_replaceable(out_dir, overwrite)  # before the slow generation
    rows = generate_profiles(n_fictitious, n_real, seed, image_size, progress=progress, n_holdout=n_holdout)
    members = rows[: n_fictitious + n_real]
    holdout_ids = [row["ID"] for row in rows[n_fictitious + n_real :]]
    forget_ids = assign_forget_ids([row["ID"] for row in members if row["source"] == "fictitious"], seed)
    holdout_text = (
        f" and {n_holdout} holdout profiles (fictitious people in no other config, `full` included: the "
        "non-members of membership inference)"
        if n_holdout
        else ""
    )
    return write_hub_dataset(
        rows,
        out_dir,
        forget_ids,
        holdout_ids=holdout_ids,
        pretty_name="UMU-Bench synthetic stand-in",
        synthetic=True,
        license="apache-2.0",
        description=(
            f"Generated by `umu-hf data synth --fictitious {n_fictitious} --real {n_real} --holdout {n_holdout} "
            f"--seed {seed} --image-size {image_size}` ({n_fictitious} fictitious + {n_real} real-set "
            f"profiles{holdout_text}, {image_size}×{image_size} portraits). Each person has {len(FACTS)} facts "
            f"({', '.join(fact.key.replace('_', ' ') for fact in FACTS)}); per fact and modality there is "
            "one classification (4 options), one cloze and one generation item, and four training pairs: the "
            "plain question with its one-sentence answer, and the cloze, classification and generation "
            "prompts with the expected reply (with the portrait, the cloze reply is the completed sentence, which "
            "names the person before the fact). `MM_QA` also asks who the person in the image is.\n\n"
            "The prompt pairs quote LLaVA-1.5's evaluation prompts (UMU-Bench's `eval.py`, character for "
            "character) through the training template `USER: <image>\\n{question}\\nASSISTANT: {answer}` "
            "(multimodal) / `USER: {question}\\nASSISTANT: {answer}` (unimodal), so the training text is the "
            "evaluation prompt followed by a space and the reply. Two prompts do not fit that template exactly: "
            "unimodal classification starts `USER:\\n` without a space, so its pair's question starts with the "
            "newline (the training text has one extra space before it); multimodal generation ends with "
            "`ASSISTANT: ` (a trailing space), so its pair's answer starts with a space, which makes the "
            "prompt's tokens under a GPT-2-style byte-level tokenizer an exact prefix of the training text's. "
            "Unimodal generation prompts say \"in one sentence in ENGLISH\", multimodal ones \"in one sentence "
            "accurately in ENGLISH\", as in the original."
        ),
        overwrite=overwrite,
        progress=progress,
    )
