"""The scorer's salience statistics, computed by hand on a two-document batch."""

import math

import torch

from textcnn.config import ModelConfig
from textcnn.features import collate, prepare
from textcnn.model import TextCNN
from textcnn.vocab import Vocabulary
from textcnn.word_ids import WordIds


def test_recurrence_length_and_padding_by_hand() -> None:
    vocab = Vocabulary(["<pad>", "<unk>", "bank", "rates", "rose", ".", "fell"])
    model = TextCNN(ModelConfig(vocab_size=len(vocab), num_classes=0, summarize=True)).eval()
    model.token_idf.copy_(torch.tensor([0.0, 0.0, 2.0, 1.0, 1.0, 0.0, 3.0]))
    texts = ["Bank rates rose.\nBank fell.", "Rates fell."]
    batch = collate([prepare(t, WordIds(vocab, lowercase=True), max_tokens=100) for t in texts])
    sentences = torch.ones(2, batch.max_sentences, model.output_dim) * batch.sentence_mask.unsqueeze(2)
    with torch.no_grad():
        features = model.salience(batch, sentences)
    # Document 0: "bank" occurs twice (idf 2), "." twice (idf 0), everything else once.
    # Sentence 0 "bank rates rose ." -> recurrence 1 * 2 = 2; sentence 1 "bank fell ." -> 2.
    expected_first = [math.log1p(4), math.log1p(2), 1.0, 1.0]
    torch.testing.assert_close(features[0, 0], torch.tensor(expected_first))
    torch.testing.assert_close(features[0, 1], torch.tensor([math.log1p(3), math.log1p(2), 1.0, 1.0]))
    # Document 1 has one sentence and no repeats; its padding row is all zeros.
    assert features[1, 0, 1] == 0 and features[1, 0, 2] == 0
    assert features[1, 1].abs().sum() == 0
