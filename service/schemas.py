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


class ClassifyRequest(Documents):
    top_k: int | None = Field(None, ge=1, description="labels to return in scores; default all")


class SummarizeRequest(Documents):
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


class ClassificationResult(BaseModel):
    label: str
    confidence: float
    scores: dict[str, float]


class ClassifyResponse(BaseModel):
    model: str
    results: list[ClassificationResult]


class SentenceResult(BaseModel):
    index: int = Field(description="position among the document's sentences, from 0")
    text: str
    score: float = Field(description="probability that the sentence belongs in the summary")
    start: int = Field(description="character offset of the sentence in the submitted text")
    end: int


class SummaryResult(BaseModel):
    summary: str
    sentences: list[SentenceResult]


class SummarizeResponse(BaseModel):
    model: str
    results: list[SummaryResult]


class ModelResponse(BaseModel):
    name: str
    version: str
    labels: list[str]
    tasks: list[str]
    metrics: dict[str, object] | None


class Status(BaseModel):
    status: str


class ErrorResponse(BaseModel):
    detail: str | list[dict[str, object]]
