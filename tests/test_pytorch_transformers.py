"""PyTorch frontend on Hugging Face transformers models as they are (BertModel, GPT2Model,
LlamaForCausalLM with grouped-query attention and rotary embeddings, ViTModel), built from small
configs with random weights, batch and sequence dynamic and checked at two shapes against
PyTorch's output in OpenVINO and onnxruntime."""

import pytest
import torch
import transformers

import irforge
from test_pytorch_frontend import _check

torch.manual_seed(0)


def _ids(vocab, batch, seq, seed):
    return torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(seed))


def bert():
    config = transformers.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=100)
    return transformers.BertModel(config).eval(), 100


def gpt2():
    config = transformers.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=100, use_cache=False, bos_token_id=0, eos_token_id=0)
    return transformers.GPT2Model(config).eval(), 100


def llama():
    # 4 query heads share 2 key/value heads (GQA); rotary position embeddings.
    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, vocab_size=100, use_cache=False)
    return transformers.LlamaForCausalLM(config).eval(), 100


class _Outputs(torch.nn.Module):
    """The model's first output only (the dataclass output's other fields are None or copies)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]


class _ImageOutputs(_Outputs):
    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values)[0]


@pytest.mark.slow  # ~30-50 s each on the shared 2-core machine
@pytest.mark.parametrize("build", [bert, gpt2, llama])
def test_transformers_text_model_with_dynamic_batch_and_sequence(build):
    model, vocab = build()
    module = _Outputs(model)
    ids = _ids(vocab, 2, 7, 0)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # padding in the second row: the attention mask is really used
    dynamic = {"input_ids": [-1, -1], "attention_mask": [-1, -1]}
    converted = irforge.convert_model(module, example_input=(ids, mask), input=dynamic)
    assert [i.name for i in converted.inputs] == ["input_ids", "attention_mask"]
    assert all(isinstance(d, str) for i in converted.inputs for d in i.shape), [i.shape for i in converted.inputs]
    # The padding-and-causal mask transformers builds (GatherND, And, Where) does not stop the
    # attention fusion: one Attention per layer, as ovc makes one ScaledDotProductAttention.
    assert converted.op_histogram.get("Attention", 0) == 2, converted.op_histogram
    _check(converted, module, [ids, mask])
    ids = _ids(vocab, 3, 11, 1)
    mask = torch.ones_like(ids)
    mask[0, 8:] = 0
    _check(converted, module, [ids, mask])


def test_transformers_vit():
    config = transformers.ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                                    image_size=32, patch_size=8)
    model = transformers.ViTModel(config, add_pooling_layer=False).eval()
    module = _ImageOutputs(model)
    images = torch.randn(2, 3, 32, 32)
    converted = irforge.convert_model(module, example_input=(images,), input={"pixel_values": [-1, 3, 32, 32]})
    _check(converted, module, [images])
    _check(converted, module, [torch.randn(1, 3, 32, 32)])


def test_index_with_several_index_tensors():
    class Index(torch.nn.Module):
        def forward(self, x, rows, cols):
            # adjacent indexed dims in the middle, and indexed dims apart (PyTorch moves them first)
            return x[:, rows, cols], x[rows, :, cols[:, None]]

    x = torch.randn(6, 5, 6, 2)
    rows = torch.tensor([[0, 4, -2]])  # negative indices count from the end
    cols = torch.tensor([5, 0, -4])
    module = Index().eval()
    converted = irforge.convert_model(module, example_input=(x, rows, cols))
    _check(converted, module, [x, rows, cols])
