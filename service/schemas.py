"""Request and response models: the API's contract, kept at the edge of the library."""

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from service import errors


def _encodable(text: str) -> str:
    # JSON may carry lone UTF-16 surrogates ("\ud800"); they cannot be encoded back into a response.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text contains an unpaired UTF-16 surrogate, which is not valid Unicode") from None
    return text


Text = Annotated[str, AfterValidator(_encodable)]

ARTICLE = (
    "Ad sales boost Time Warner profit\n"
    "Quarterly profits at US media giant TimeWarner jumped 76% to $1.13bn (£600m) for the "
    "three months to December, from $639m year-earlier. The firm, which is now one of the "
    "biggest investors in Google, benefited from sales of high-speed internet connections "
    "and higher advert sales."
)


class Documents(BaseModel):
    """One document as `text` or several as `texts`; exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    text: Text | None = Field(None, description="a single document", examples=[ARTICLE])
    texts: list[Text] | None = Field(None, description="several documents, answered in order")
    offsets: Literal["code_points", "utf16"] = Field(
        "code_points",
        description="the unit of every start/end in the answer: Unicode code points (as Python indexes "
        "a str) or UTF-16 code units (as JavaScript, Java and C# index strings); they differ after a "
        "character outside the Basic Multilingual Plane, such as most emoji",
    )

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' (a string) or 'texts' (a list of strings)")
        return self

    def as_list(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


# JSON Schema's dependentSchemas (OpenAPI 3.1): a body that gives `top_ngrams` or `explain_label`
# must also give `"explain": true`, so generated clients and fuzzers know what the validator checks.
_NEEDS_EXPLAIN = {"properties": {"explain": {"const": True}}, "required": ["explain"]}


class ExplainOptions(BaseModel):
    """Whether to explain each answer, and with how many n-grams."""

    model_config = ConfigDict(
        json_schema_extra=lambda schema: schema.__setitem__(
            "dependentSchemas",
            {n: _NEEDS_EXPLAIN for n in ("top_ngrams", "explain_label") if n in schema.get("properties", {})},
        )
    )

    explain: bool = Field(False, description="also return why: the n-grams and parts behind each answer")
    top_ngrams: int = Field(5, ge=1, le=50, description="n-grams per explanation (needs explain)")

    @model_validator(mode="after")
    def _needs_explain(self) -> Self:
        given = sorted(self.model_fields_set & {"explain_label", "top_ngrams"})
        if given and not self.explain:
            raise ValueError(f'{given} only apply with "explain": true')
        return self


class ClassifyRequest(Documents, ExplainOptions):
    top_k: int | None = Field(None, ge=1, description="labels to return in scores; default all")
    explain_label: str | None = Field(
        None, description="explain this class instead of the predicted one (needs explain)", examples=["tech"]
    )
    threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="multi-label models: choose each label whose probability reaches this, instead of "
        "the thresholds learned on dev (a single-label model refuses it)",
    )
    at_least_one: bool = Field(
        False,
        description="multi-label models: where no label reaches its threshold, choose the most probable "
        "one (a single-label model refuses it)",
    )


class SummarizeRequest(Documents, ExplainOptions):
    max_sentences: int | None = Field(None, ge=1, description="at most this many sentences")
    ratio: float | None = Field(
        None,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="share of the document's sentences, rounded up",
    )
    max_words: int | None = Field(None, ge=1, description="at most this many words")

    @model_validator(mode="after")
    def _one_length(self) -> Self:
        given = [n for n in ("max_sentences", "ratio", "max_words") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of max_sentences, ratio, max_words (got {given})")
        return self


_UNIT = ', in the unit "offsets" asks for (code points by default)'


class NGramResult(BaseModel):
    text: str = Field(description="the n-gram as it stands in the submitted text: text[start:end]")
    start: int = Field(description=f"offset of the n-gram in the submitted text{_UNIT}")
    end: int = Field(description="offset just past its end")
    sentence: int = Field(description="index of the sentence it is in, from 0")
    tokens: list[str] = Field(description="the tokens the model read (normalized, lower-cased)")
    contribution: float = Field(description="what it adds to the explained logit")
    features: int = Field(description="how many of the CNN's max-pooled features it won")


class ClassExplanation(BaseModel):
    """bias + the contributions of every n-gram = logit; the largest positive contributions are listed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "label": "business",
                    "probability": 0.97,
                    "logit": 4.1,
                    "bias": -0.2,
                    "ngrams": [
                        {
                            "text": "profits at US media giant",
                            "start": 45,
                            "end": 70,
                            "sentence": 1,
                            "tokens": ["profits", "at", "us", "media", "giant"],
                            "contribution": 0.83,
                            "features": 3,
                        }
                    ],
                }
            ]
        }
    )

    label: str = Field(
        description="the explained class: the predicted one unless explain_label names another"
    )
    probability: float
    logit: float
    bias: float = Field(description="the classifier's bias for the class")
    ngrams: list[NGramResult] = Field(description="highest contribution first; only positive contributions")


class ChosenLabel(BaseModel):
    """A label a multi-label model chose: its probability reached the label's threshold."""

    label: str
    probability: float
    explanation: ClassExplanation | None = Field(None, description="with explain: true")


class ClassificationResult(BaseModel):
    label: str = Field(description="the most probable label")
    confidence: float
    scores: dict[str, float]
    labels: list[ChosenLabel] | None = Field(
        None,
        description="multi-label models only: the labels at or above their thresholds, most probable "
        "first (maybe none)",
    )
    known_token_share: float = Field(
        description="share of the document's tokens that the model's vocabulary knows (0 without tokens); "
        "a low share says the text is unlike the training data and the label is likely a guess"
    )
    explanation: ClassExplanation | None = Field(None, description="with explain: true")


_VERSION = "the version that answered: the first 12 hex digits of its weights' sha256"


class ClassifyResponse(BaseModel):
    model: str
    version: str = Field(description=_VERSION)
    results: list[ClassificationResult]


class SentenceExplanation(BaseModel):
    """bias + the parts' contributions = logit, and score = sigmoid(logit)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "logit": 1.9,
                    "bias": -0.4,
                    "parts": {"content": 0.7, "context": 0.2, "document": -0.1, "position": 1.5},
                    "ngrams": [
                        {
                            "text": "jumped 76% to",
                            "start": 86,
                            "end": 99,
                            "sentence": 1,
                            "tokens": ["jumped", "76", "%", "to"],
                            "contribution": 0.21,
                            "features": 2,
                        }
                    ],
                }
            ]
        }
    )

    logit: float
    bias: float = Field(description="the scorer's biases through its active units")
    parts: dict[str, float] = Field(
        description="contribution to the logit of the sentence's content (its own n-grams), context (its "
        "neighbours), the document vector and its position"
    )
    ngrams: list[NGramResult] = Field(description="the sentence's n-grams behind its content part")


class SentenceResult(BaseModel):
    index: int = Field(description="position among the document's sentences, from 0")
    text: str
    score: float = Field(description="probability that the sentence belongs in the summary")
    start: int = Field(description=f"offset of the sentence in the submitted text{_UNIT}")
    end: int = Field(description="offset just past its end")
    explanation: SentenceExplanation | None = Field(None, description="with explain: true")


class SummaryResult(BaseModel):
    summary: str
    sentences: list[SentenceResult]


class SummarizeResponse(BaseModel):
    model: str
    version: str = Field(description=_VERSION)
    results: list[SummaryResult]


def _examples(**extra: object) -> dict[str, dict[str, object]]:
    return {
        "plain": {"summary": "one document", "value": {"text": ARTICLE}},
        "explained": {
            "summary": "one document, explained",
            "value": {"text": ARTICLE, "explain": True, **extra},
        },
    }


CLASSIFY_EXAMPLES = {
    **_examples(),
    "label": {
        "summary": "why not another class",
        "value": {"text": ARTICLE, "explain": True, "explain_label": "tech", "top_ngrams": 3},
    },
}
SUMMARIZE_EXAMPLES = _examples(max_sentences=2)


class ModelResponse(BaseModel):
    name: str
    version: str
    labels: list[str]
    tasks: list[str]
    multi_label: bool = Field(False, description="whether labels are chosen independently, by thresholds")
    thresholds: dict[str, float] | None = Field(
        None, description="multi-label models: each label's threshold, learned on dev"
    )
    metrics: dict[str, object] | None
    encoder: dict[str, str | int] | None = None  # textcnn.lookup.Inference: lookup tables or convolution
    description: str | None = Field(
        None, description="what the model is for, from its model card (README.md): the first paragraph"
    )


class Example(BaseModel):
    """A text kept in the model directory to try the model on (examples.json)."""

    title: str
    text: str
    source: str | None = Field(None, description="where the text comes from")


class Status(BaseModel):
    status: str


class ModelStatus(BaseModel):
    """One model of the repository."""

    name: str = Field(
        description="its folder's name in the repository (the model's own name for one directory)"
    )
    state: Literal["loaded", "available", "unloaded", "failed"] = Field(
        description="loaded: serving; available: loads on its first request; unloaded: by request, until "
        "loaded again; failed: no version of it loads (see error)"
    )
    ready: bool = Field(description="loaded and answering")
    default: bool = Field(description="the model of /classify, /summarize and /v1/model")
    version: str | None = Field(description="the fingerprint of the loaded weights (what answers name)")
    number: int | None = Field(
        description="the version folder served (1, 2, ...); none for a plain directory"
    )
    pinned: int | None = Field(description="the version folder pinned, else the highest is served")
    versions: list[int] = Field(description="the version folders present")
    tasks: list[str]
    labels: list[str]
    error: str | None = Field(
        description="why its last load failed, also while an older version keeps serving; none after a load"
    )


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(None, ge=0, description="pin this version folder; none: serve the highest")


class ErrorResponse(BaseModel):
    detail: str | list[dict[str, object]]
    type: str = Field(
        description="the kind of error, for a program (detail is for a person): one of "
        + ", ".join(errors.TYPES)
    )
