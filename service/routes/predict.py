"""The predict routes: /classify and /summarize with the default model, and the same with a named one
(/v1/models/{name}/classify, /v1/models/{name}/summarize).

Each route turns its checked body into plain values for the Predictor, runs the model work through
the gate on a lease of one model version (so a swap never changes the model under a request), and
turns the library's results back into response models (`_classification`, `_summary`).
"""

from collections.abc import Callable, Sequence

from fastapi import APIRouter, Request

from service import deps, offsets, schemas
from service.backpressure import one_document_at_a_time
from service.routes import responses
from textcnn import (
    ClassExplanation,
    Classification,
    NGram,
    SentenceExplanation,
    Summary,
    explain_classification,
    explain_labels,
    explain_sentences,
)

default_model = APIRouter(tags=["predict"])
named_model = APIRouter(tags=["models"])


async def classified(
    work: deps.ModelWork, name: str | None, body: schemas.ClassifyRequest
) -> schemas.ClassifyResponse:
    texts = work.texts
    work.repository.require(name)  # an unknown model is answered before it takes a place in the queue

    def run() -> schemas.ClassifyResponse:
        with work.repository.lease(name) as served:
            predictor = served.predictor
            results = predictor.classify(
                texts, top_k=body.top_k, threshold=body.threshold, at_least_one=body.at_least_one
            )
            explanations: Sequence[ClassExplanation | None] = [None] * len(texts)
            chosen: Sequence[Sequence[ClassExplanation]] = [()] * len(texts)
            if body.explain:
                explanations = one_document_at_a_time(
                    lambda some: explain_classification(
                        predictor, some, label=body.explain_label, top_n=body.top_ngrams
                    ),
                    texts,
                )
            if body.explain and predictor.multi_label:
                wanted = {t: list(r.labels or ()) for t, r in zip(texts, results, strict=True)}
                chosen = one_document_at_a_time(
                    lambda some: explain_labels(
                        predictor, some, [wanted[t] for t in some], top_n=body.top_ngrams
                    ),
                    texts,
                )
            work.metrics.model_requests.labels(served.name, "classify").inc()
            return schemas.ClassifyResponse(
                model=served.name,
                version=served.fingerprint,
                results=[
                    _classification(r, e, c, offsets.converter(t, body.offsets))
                    for r, e, c, t in zip(results, explanations, chosen, texts, strict=True)
                ],
            )

    return await work.gate.run(run)


async def summarized(
    work: deps.ModelWork, name: str | None, body: schemas.SummarizeRequest
) -> schemas.SummarizeResponse:
    texts = work.texts
    work.repository.require(name)

    def run() -> schemas.SummarizeResponse:
        with work.repository.lease(name) as served:
            predictor = served.predictor
            results = predictor.summarize(
                texts,
                max_sentences=body.max_sentences,
                ratio=body.ratio,
                max_words=body.max_words,
            )
            explanations: Sequence[Sequence[SentenceExplanation] | None] = [None] * len(texts)
            if body.explain:
                explanations = one_document_at_a_time(
                    lambda some: explain_sentences(predictor, some, top_n=body.top_ngrams), texts
                )
            work.metrics.model_requests.labels(served.name, "summarize").inc()
            return schemas.SummarizeResponse(
                model=served.name,
                version=served.fingerprint,
                results=[
                    _summary(r, e, offsets.converter(t, body.offsets))
                    for r, e, t in zip(results, explanations, texts, strict=True)
                ],
            )

    return await work.gate.run(run)


# Without explain, answers carry no explanation keys at all (exclude_none), exactly as before.
@default_model.post(
    "/classify",
    response_model=schemas.ClassifyResponse,
    response_model_exclude_none=True,
    responses=responses(400, 413, 422, 503, 504),
)
async def classify(body: deps.ClassifyBody, request: Request) -> schemas.ClassifyResponse:
    """Label each document with its most probable class and the class probabilities (the default
    model).

    With `explain`, each result also says why: the n-grams that add most to the logit of the
    predicted class (or of `explain_label`), with their character offsets. It is exact, from one
    more forward pass: each of the CNN's max-pooled features comes from one n-gram, and the class
    logit is the bias plus weight x feature summed over the features.
    """
    return await classified(deps.model_work(body, request), None, body)


@default_model.post(
    "/summarize",
    response_model=schemas.SummarizeResponse,
    response_model_exclude_none=True,
    responses=responses(400, 413, 422, 503, 504),
)
async def summarize(body: deps.SummarizeBody, request: Request) -> schemas.SummarizeResponse:
    """Pick each document's summary sentences, returned in document order with offsets (the default
    model).

    With `explain`, each sentence also says why it scored as it did: its logit split exactly into
    its content, context, document and position parts (the scorer is linear once its active
    units are fixed), and the sentence's own n-grams behind the content part.
    """
    return await summarized(deps.model_work(body, request), None, body)


@named_model.post(
    "/v1/models/{name}/classify",
    response_model=schemas.ClassifyResponse,
    response_model_exclude_none=True,
    responses=responses(400, 404, 413, 422, 503, 504),
)
async def classify_with(name: str, body: deps.ClassifyBody, request: Request) -> schemas.ClassifyResponse:
    """`/classify` with the named model (loaded first if it is not)."""
    return await classified(deps.model_work(body, request), name, body)


@named_model.post(
    "/v1/models/{name}/summarize",
    response_model=schemas.SummarizeResponse,
    response_model_exclude_none=True,
    responses=responses(400, 404, 413, 422, 503, 504),
)
async def summarize_with(name: str, body: deps.SummarizeBody, request: Request) -> schemas.SummarizeResponse:
    """`/summarize` with the named model (loaded first if it is not)."""
    return await summarized(deps.model_work(body, request), name, body)


def _classification(
    result: Classification,
    explanation: ClassExplanation | None,
    chosen: Sequence[ClassExplanation],
    at: Callable[[int], int],
) -> schemas.ClassificationResult:
    """The response for one document; `chosen` explains a multi-label result's labels (with explain)."""
    why = {e.label: _class_explanation(e, at) for e in chosen}
    return schemas.ClassificationResult(
        label=result.label,
        confidence=result.confidence,
        scores=result.scores,
        labels=None
        if result.labels is None
        else [
            schemas.ChosenLabel(label=label, probability=p, explanation=why.get(label))
            for label, p in result.labels.items()
        ],
        known_token_share=result.known_token_share,
        explanation=None if explanation is None else _class_explanation(explanation, at),
    )


def _class_explanation(explanation: ClassExplanation, at: Callable[[int], int]) -> schemas.ClassExplanation:
    return schemas.ClassExplanation(
        label=explanation.label,
        probability=explanation.probability,
        logit=explanation.logit,
        bias=explanation.bias,
        ngrams=_ngrams(explanation.ngrams, at),
    )


def _summary(
    result: Summary, explanations: Sequence[SentenceExplanation] | None, at: Callable[[int], int]
) -> schemas.SummaryResult:
    return schemas.SummaryResult(
        summary=result.text,
        sentences=[
            schemas.SentenceResult(
                index=s.index,
                text=s.text,
                score=s.score,
                start=at(s.start),
                end=at(s.end),
                explanation=None
                if explanations is None
                else _sentence_explanation(explanations[s.index], at),
            )
            for s in result.sentences
        ],
    )


def _sentence_explanation(
    explanation: SentenceExplanation, at: Callable[[int], int]
) -> schemas.SentenceExplanation:
    return schemas.SentenceExplanation(
        logit=explanation.logit,
        bias=explanation.bias,
        parts=explanation.parts,
        ngrams=_ngrams(explanation.ngrams, at),
    )


def _ngrams(ngrams: Sequence[NGram], at: Callable[[int], int]) -> list[schemas.NGramResult]:
    """The n-grams, their offsets mapped by `at` into the unit the request asked for."""
    return [
        schemas.NGramResult(
            text=n.text,
            start=at(n.start),
            end=at(n.end),
            sentence=n.sentence,
            tokens=list(n.tokens),
            contribution=n.contribution,
            features=n.features,
        )
        for n in ngrams
    ]
