"""Request and response models: the API's contract, kept at the edge of the library."""

from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


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


class NGramResult(BaseModel):
    text: str = Field(description="the n-gram as it stands in the submitted text: text[start:end]")
    start: int = Field(description="character offset of the n-gram in the submitted text")
    end: int
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


class ClassificationResult(BaseModel):
    label: str
    confidence: float
    scores: dict[str, float]
    explanation: ClassExplanation | None = Field(None, description="with explain: true")


class ClassifyResponse(BaseModel):
    model: str
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
    start: int = Field(description="character offset of the sentence in the submitted text")
    end: int
    explanation: SentenceExplanation | None = Field(None, description="with explain: true")


class SummaryResult(BaseModel):
    summary: str
    sentences: list[SentenceResult]


class SummarizeResponse(BaseModel):
    model: str
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
    metrics: dict[str, object] | None
    encoder: dict[str, str | int] | None = None  # textcnn.lookup.Inference: lookup tables or convolution


class Status(BaseModel):
    status: str


class ErrorResponse(BaseModel):
    detail: str | list[dict[str, object]]
