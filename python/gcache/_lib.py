"""ctypes view of libgcache.so: the library handle, mirrors of the public C
structs, and the prototypes of the gc_ functions the package calls.

Every mirrored struct is checked against the library's own layout table
(gcache/layout.h: size, field count and the offset of every field) when the
module is imported, so a struct changed on the C side raises an ImportError
naming the field instead of corrupting memory.
"""
from __future__ import annotations

import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char, c_char_p, c_double, c_float, c_int,
                    c_int32, c_int64, c_size_t, c_uint8, c_uint64, c_void_p)
from pathlib import Path

# Limits from the headers (gcache/generate.h, sched.h, graph.h).
MAX_STOP = 8
MAX_PREDS = 16
MAX_NODES = 64
MAX_AGENTS = 12
MAX_ROUNDS = 4
MAX_LAYERS = 128

# Status codes (gcache/gcache.h).
GC_OK = 0


def _library_path() -> str:
    """$GCACHE_LIBRARY, else the libgcache.so installed inside this package."""
    env = os.environ.get("GCACHE_LIBRARY")
    if env:
        return env
    here = Path(__file__).resolve().parent / "libgcache.so"
    if here.exists():
        return str(here)
    raise ImportError(
        f"gcache: libgcache.so not found next to {__file__}; install the package with `pip install .` "
        "from the repository, or point GCACHE_LIBRARY at a built libgcache.so")


lib = ctypes.CDLL(_library_path())

# ---- opaque handles --------------------------------------------------------
gc_model_p = c_void_p
gc_engine_p = c_void_p
gc_kv_p = c_void_p
gc_tokenizer_p = c_void_p
gc_realign_p = c_void_p
gc_dataset_p = c_void_p
gc_prompt_set_p = c_void_p
gc_policy_p = c_void_p
gc_detok_p = c_void_p
gc_run_p = c_void_p
gc_train_p = c_void_p
gc_rows_p = c_void_p


# ---- struct mirrors --------------------------------------------------------
class gc_model_info(Structure):
    _fields_ = [("arch", c_char_p), ("source", c_char_p), ("vocab_size", c_int64), ("hidden_size", c_int64),
                ("intermediate_size", c_int64), ("n_layers", c_int64), ("n_heads", c_int64),
                ("n_kv_heads", c_int64), ("head_dim", c_int64), ("max_position", c_int64),
                ("rope_theta", c_double), ("rms_eps", c_double), ("tie_embeddings", c_bool),
                ("weight_dtype", c_char_p), ("n_params", c_int64), ("weight_bytes", c_size_t)]


class gc_cpu_debug(Structure):
    _fields_ = [("qgemm_avx2", c_bool), ("gguf_layout", c_bool)]


class gc_cuda_debug(Structure):
    _fields_ = [("graphs", c_bool), ("decode_attention", c_bool), ("pdl_max_t", c_int), ("attn_blocks_per_sm", c_int),
                ("skinny_max_t", c_int), ("profile", c_bool), ("batch_invariant", c_bool)]


class gc_engine_params(Structure):
    _fields_ = [("n_threads", c_int), ("kv_pool_bytes", c_size_t), ("device", c_int), ("exact", c_bool),
                ("cpu", gc_cpu_debug), ("cuda", gc_cuda_debug), ("kv_dtype", c_int)]


class gc_token_draw(Structure):
    _fields_ = [("temperature", c_float), ("top_p", c_float), ("top_k", c_int32), ("u", c_float)]


class gc_seq_step(Structure):
    _fields_ = [("kv", gc_kv_p), ("n", c_int64), ("ids", POINTER(c_int32)), ("embeds", POINTER(c_float)),
                ("logits", POINTER(c_float)), ("logits_all", c_bool), ("hidden", POINTER(c_float)),
                ("hidden_all", c_bool), ("argmax", POINTER(c_int32)), ("draw", POINTER(gc_token_draw)),
                ("in_rows", gc_rows_p), ("in_row", c_int64), ("hidden_rows", gc_rows_p), ("hidden_row", c_int64)]


class gc_sampler_params(Structure):
    _fields_ = [("temperature", c_float), ("top_p", c_float), ("top_k", c_int), ("seed", c_uint64)]


class gc_gen_params(Structure):
    _fields_ = [("max_tokens", c_int), ("sampling", gc_sampler_params), ("stop", c_char_p * MAX_STOP),
                ("ignore_eos", c_bool)]


class gc_gen_result(Structure):
    _fields_ = [("text", c_void_p), ("text_len", c_size_t), ("ids", POINTER(c_int32)), ("n_ids", c_int64),
                ("n_prompt", c_int64), ("finish", c_int), ("unfed", c_int32), ("prefill_s", c_double),
                ("decode_s", c_double)]


class gc_trace_seg(Structure):
    _fields_ = [("type", c_int), ("n", c_int64), ("logits", POINTER(c_float)), ("hidden", POINTER(c_float)),
                ("logits_last", POINTER(c_float)), ("ids", POINTER(c_int32)), ("cache_len", c_int64)]


class gc_trace(Structure):
    _fields_ = [("n_segs", c_int), ("segs", POINTER(gc_trace_seg)), ("vocab", c_int64), ("dim", c_int64)]


class gc_trace_opts(Structure):
    _fields_ = [("realign", c_bool)]


class gc_chat_msg(Structure):
    _fields_ = [("role", c_char_p), ("content", c_char_p)]


class gc_chat_opts(Structure):
    _fields_ = [("add_generation_prompt", c_bool), ("enable_thinking", c_bool)]


class gc_mas_params(Structure):
    _fields_ = [("method", c_int), ("mode", c_int), ("latent_steps", c_int), ("pass", c_int), ("think", c_bool),
                ("max_tokens", c_int), ("agent_max_tokens", c_int), ("style", c_int)]


class gc_node(Structure):
    _fields_ = [("role", c_char_p), ("n_preds", c_int), ("preds", c_int * MAX_PREDS), ("text_in", c_bool),
                ("prompt", c_char_p), ("latent_steps", c_int), ("max_tokens", c_int), ("pass", c_int),
                ("fuse", c_int), ("fuse_w", c_float * MAX_PREDS), ("gate", POINTER(c_uint8)),
                ("score_prefix", c_char_p), ("score_text", c_char_p), ("text", c_char_p),
                ("prompt_tokens", c_int64), ("out_tokens", c_int64), ("latent_done", c_int64),
                ("cache_in_len", c_int64), ("cache_out_len", c_int64), ("cache_out_bytes", c_size_t),
                ("finish", c_int), ("t_start", c_double), ("t_end", c_double), ("score_logp", c_double),
                ("score_tokens", c_int64)]


class gc_qgraph(Structure):
    _fields_ = [("n_nodes", c_int), ("nodes", gc_node * MAX_NODES), ("output", c_int), ("seed", c_uint64),
                ("t_done", c_double)]


class gc_sched_event(Structure):
    _fields_ = [("kind", c_int), ("question", c_int), ("node", c_int), ("graph", POINTER(gc_qgraph)),
                ("t", c_double)]


gc_sched_event_fn = CFUNCTYPE(None, c_void_p, POINTER(gc_sched_event))


class gc_sched_params(Structure):
    _fields_ = [("sampling", gc_sampler_params), ("on_event", gc_sched_event_fn), ("user", c_void_p),
                ("realign", gc_realign_p), ("stop", c_char_p * MAX_STOP), ("prefill_rows", c_int),
                ("profile", c_bool)]


class gc_graph_params(Structure):
    _fields_ = [("n_agents", c_int), ("rounds", c_int), ("cache_mode", c_bool), ("latent_steps", c_int),
                ("pass", c_int), ("fuse", c_int), ("max_tokens", c_int), ("agent_max_tokens", c_int),
                ("think", c_bool), ("style", c_int)]


class gc_topo(Structure):
    _fields_ = [("n", c_int), ("spatial", (c_uint8 * MAX_AGENTS) * MAX_AGENTS),
                ("temporal", (c_uint8 * MAX_AGENTS) * MAX_AGENTS)]


class gc_fuser_choice(Structure):
    _fields_ = [("gate", POINTER(c_uint8)), ("fuse_w", POINTER(c_double * MAX_AGENTS))]


class gc_policy_params(Structure):
    _fields_ = [("n_nodes", c_int), ("feat_dim", c_int), ("n_layers", c_int), ("hidden", c_int),
                ("code_dim", c_int), ("temperature", c_double), ("gate_temperature", c_double),
                ("fuse_sigma", c_double), ("lr", c_double), ("clip_norm", c_double), ("baseline_beta", c_double),
                ("use_baseline", c_bool), ("learn_temporal", c_bool), ("learn_gates", c_bool),
                ("learn_fuse", c_bool), ("dropout", c_double), ("seed", c_uint64)]


class gc_sample(Structure):
    _fields_ = [("topo", gc_topo), ("n_layers", c_int), ("gate", c_uint8 * MAX_LAYERS),
                ("fuse_w", (c_double * MAX_AGENTS) * MAX_AGENTS), ("logp", c_double),
                ("decided", (c_uint8 * MAX_AGENTS) * MAX_AGENTS),
                ("fuse_s", (c_double * MAX_AGENTS) * MAX_AGENTS), ("has_temporal", c_bool),
                ("has_gates", c_bool), ("has_fuse", c_bool), ("priv", c_void_p)]


class gc_train_stats(Structure):
    _fields_ = [("step", c_int64), ("loss", c_double), ("mean_utility", c_double), ("baseline", c_double),
                ("mean_logp", c_double), ("grad_norm", c_double)]


class gc_question(Structure):
    _fields_ = [("id", c_char_p), ("question", c_char_p), ("gold", c_char_p), ("n_choices", c_int),
                ("code_prompt", c_char_p), ("entry_point", c_char_p), ("line", c_int64)]


class gc_dataset_options(Structure):
    _fields_ = [("strict", c_bool), ("seed", c_uint64)]


class gc_score(Structure):
    _fields_ = [("extracted", c_bool), ("correct", c_bool), ("pred", c_char * 64)]


class gc_sandbox_limits(Structure):
    _fields_ = [("cpu_seconds", c_double), ("wall_seconds", c_double), ("memory_bytes", c_size_t),
                ("max_procs", c_int), ("max_file_bytes", c_size_t), ("output_cap", c_size_t),
                ("python", c_char_p), ("tmp_root", c_char_p), ("run_as_uid", c_int)]


class gc_sandbox_result(Structure):
    _fields_ = [("outcome", c_int), ("passed", c_bool), ("exit_code", c_int), ("signal", c_int),
                ("wall_seconds", c_double), ("cpu_seconds", c_double), ("output", c_char_p),
                ("output_len", c_size_t), ("output_dropped", c_size_t), ("net_isolated", c_bool),
                ("pid_isolated", c_bool), ("uid_dropped", c_bool), ("reason", c_char * 160),
                ("workdir", c_char * 256)]


class gc_run_progress(Structure):
    _fields_ = [("event", c_int), ("label", c_char_p), ("unit", c_char_p), ("total", c_int64), ("start", c_int64),
                ("done", c_int64), ("note", c_char_p)]


gc_run_record_fn = CFUNCTYPE(c_bool, c_void_p, c_char_p)
gc_run_progress_fn = CFUNCTYPE(None, c_void_p, POINTER(gc_run_progress))
gc_run_note_fn = CFUNCTYPE(None, c_void_p, c_char_p)


class gc_run_params(Structure):
    _fields_ = [("method", c_char_p), ("task", c_char_p), ("dataset", c_char_p), ("model", c_char_p),
                ("engine", gc_engine_params), ("prompts", c_char_p), ("max_samples", c_int64), ("offset", c_int64),
                ("batch", c_int), ("seed", c_uint64), ("strict", c_bool), ("max_tokens", c_int),
                ("agent_max_tokens", c_int), ("temperature", c_double), ("top_p", c_double), ("top_k", c_int),
                ("think", c_bool), ("mode", c_char_p), ("pass", c_char_p), ("latent_steps", c_int),
                ("realign", c_bool), ("topology", c_char_p), ("agents", c_int), ("rounds", c_int),
                ("text_mode", c_bool), ("fuse", c_char_p), ("score_answer", c_bool), ("gates", c_int),
                ("train_iters", c_int64), ("batch_size", c_int), ("train_offset", c_int64), ("lr", c_double),
                ("edge_temperature", c_double), ("baseline", c_bool), ("reward", c_char_p),
                ("eval_policy", c_char_p), ("out", c_char_p), ("resume", c_bool), ("trace", c_char_p),
                ("profile", c_bool), ("prefill_rows", c_int), ("checkpoint", c_char_p), ("gen_mode", c_int), ("env_file", c_char_p),
                ("api_concurrency", c_int),
                ("model_handle", gc_model_p), ("engine_handle", gc_engine_p), ("realignment", gc_realign_p),
                ("questions", gc_dataset_p), ("policy", gc_policy_p), ("on_record", gc_run_record_fn),
                ("on_progress", gc_run_progress_fn), ("on_note", gc_run_note_fn), ("user", c_void_p)]


class gc_train_iter(Structure):
    _fields_ = [("iter", c_int64), ("n_iters", c_int64), ("stats", gc_train_stats), ("log_line", c_char_p)]


MIRRORED = [gc_model_info, gc_cpu_debug, gc_cuda_debug, gc_engine_params, gc_token_draw, gc_seq_step, gc_sampler_params,
            gc_gen_params, gc_gen_result, gc_trace_seg, gc_trace, gc_trace_opts, gc_chat_msg, gc_chat_opts,
            gc_mas_params, gc_node, gc_qgraph, gc_sched_event, gc_sched_params, gc_graph_params, gc_topo,
            gc_fuser_choice, gc_policy_params, gc_sample, gc_train_stats, gc_question, gc_dataset_options, gc_score,
            gc_sandbox_limits, gc_sandbox_result, gc_run_progress, gc_run_params, gc_train_iter]

gc_gen_stream_fn = CFUNCTYPE(c_bool, c_void_p, POINTER(c_char), c_size_t)

# ---- prototypes -------------------------------------------------------------
_st = c_int  # gc_status
_P = POINTER


def _proto(name: str, restype, *argtypes) -> None:
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


_PROTOS = [
    # gcache.h, layout.h
    ("gc_last_error", c_char_p), ("gc_status_name", c_char_p, c_int),
    ("gc_struct_size", c_size_t, c_char_p), ("gc_struct_offset", c_size_t, c_char_p, c_char_p),
    ("gc_struct_n_fields", c_int, c_char_p),
    # model.h, engine.h
    ("gc_model_load", _st, c_char_p, _P(gc_model_p)), ("gc_model_free", None, gc_model_p),
    ("gc_model_get_info", None, gc_model_p, _P(gc_model_info)), ("gc_model_tokenizer", gc_tokenizer_p, gc_model_p),
    ("gc_model_eos_ids", _P(c_int32), gc_model_p, _P(c_int)),
    ("gc_engine_default_params", gc_engine_params), ("gc_engine_cuda_available", c_bool),
    ("gc_engine_new", _st, gc_model_p, _P(gc_engine_params), _P(gc_engine_p)), ("gc_engine_free", None, gc_engine_p),
    ("gc_engine_device", c_int, gc_engine_p), ("gc_engine_n_threads", c_int, gc_engine_p),
    ("gc_engine_kv_live_blocks", c_int64, gc_engine_p),
    ("gc_engine_forward", _st, gc_engine_p, _P(gc_seq_step), c_int),
    # kv.h
    ("gc_kv_new", _st, gc_engine_p, _P(gc_kv_p)), ("gc_kv_free", None, gc_kv_p), ("gc_kv_len", c_int64, gc_kv_p),
    ("gc_kv_bytes", c_size_t, gc_kv_p), ("gc_kv_block_bytes", c_size_t, gc_kv_p),
    ("gc_kv_fork", _st, gc_kv_p, _P(gc_kv_p)), ("gc_kv_clone", _st, gc_kv_p, _P(gc_kv_p)),
    ("gc_kv_concat", _st, _P(gc_kv_p), c_int, _P(gc_kv_p)),
    ("gc_kv_slice", _st, gc_kv_p, c_int64, c_int64, _P(gc_kv_p)), ("gc_kv_keep_last", _st, gc_kv_p, c_int64),
    ("gc_kv_wsum", _st, _P(gc_kv_p), _P(c_float), c_int, _P(gc_kv_p)),
    ("gc_kv_scale", _st, gc_kv_p, c_int64, c_int64, _P(c_float), _P(c_float), _P(c_uint8)),
    ("gc_kv_read", _st, gc_kv_p, c_int64, c_int64, _P(c_float), _P(c_float)),
    ("gc_kv_save", _st, gc_kv_p, c_char_p), ("gc_kv_load", _st, gc_engine_p, c_char_p, _P(gc_kv_p)),
    # tokenizer.h, chat.h
    ("gc_tokenizer_encode", _st, gc_tokenizer_p, c_char_p, c_size_t, c_bool, _P(_P(c_int32)), _P(c_size_t)),
    ("gc_tokenizer_decode", _st, gc_tokenizer_p, _P(c_int32), c_size_t, c_bool, _P(c_void_p), _P(c_size_t)),
    ("gc_tokenizer_vocab_size", c_int64, gc_tokenizer_p), ("gc_tokenizer_find", c_int32, gc_tokenizer_p, c_char_p),
    ("gc_tokenizer_is_special", c_bool, gc_tokenizer_p, c_int32),
    ("gc_tokenizer_bos", c_int32, gc_tokenizer_p), ("gc_tokenizer_eos", c_int32, gc_tokenizer_p),
    ("gc_tokenizer_chat_template", c_char_p, gc_tokenizer_p),
    ("gc_chat_detect", c_int, c_char_p), ("gc_chat_style_name", c_char_p, c_int),
    ("gc_chat_format", _st, c_int, _P(gc_chat_msg), c_size_t, _P(gc_chat_opts), _P(c_void_p), _P(c_size_t)),
    # generate.h, sampler.h
    ("gc_gen_default_params", gc_gen_params), ("gc_sampler_default_params", gc_sampler_params),
    ("gc_generate", _st, gc_engine_p, gc_kv_p, gc_tokenizer_p, _P(c_int32), c_int64, _P(gc_gen_params),
     gc_gen_stream_fn, c_void_p, _P(gc_gen_result)),
    ("gc_gen_result_free", None, _P(gc_gen_result)),
    # latent.h, trace.h
    ("gc_realign_new", _st, gc_model_p, c_bool, c_int, _P(gc_realign_p)), ("gc_realign_free", None, gc_realign_p),
    ("gc_realign_target_norm", c_double, gc_realign_p),
    ("gc_realign_apply_rows", _st, gc_realign_p, gc_engine_p, _P(c_float), c_int64, _P(c_float)),
    ("gc_text_embed_model", _st, gc_engine_p, gc_tokenizer_p, c_char_p, _P(c_double)),
    ("gc_trace_run", _st, gc_engine_p, c_char_p, _P(gc_trace_opts), _P(_P(gc_trace))),
    ("gc_trace_free", None, _P(gc_trace)),
    # eval.h
    ("gc_task_from_name", _st, c_char_p, _P(c_int)), ("gc_task_name", c_char_p, c_int),
    ("gc_task_answer_kind", c_int, c_int),
    ("gc_dataset_load", _st, c_int, c_char_p, _P(gc_dataset_options), _P(gc_dataset_p)),
    ("gc_dataset_parse", _st, c_int, c_char_p, c_size_t, c_char_p, _P(gc_dataset_options), _P(gc_dataset_p)),
    ("gc_dataset_free", None, gc_dataset_p), ("gc_dataset_count", c_size_t, gc_dataset_p),
    ("gc_dataset_get", _P(gc_question), gc_dataset_p, c_size_t), ("gc_dataset_skipped", c_size_t, gc_dataset_p),
    ("gc_dataset_warning_count", c_size_t, gc_dataset_p), ("gc_dataset_warning", c_char_p, gc_dataset_p, c_size_t),
    ("gc_answer_score", _st, c_int, _P(gc_question), c_char_p, _P(gc_score)),
    ("gc_answer_extract_code", c_void_p, c_char_p, c_char_p, c_char_p),
    ("gc_code_program", c_void_p, _P(gc_question), c_char_p),
    ("gc_sandbox_limits_default", None, _P(gc_sandbox_limits)),
    ("gc_sandbox_run", _st, c_char_p, _P(gc_sandbox_limits), _P(gc_sandbox_result)),
    ("gc_sandbox_result_free", None, _P(gc_sandbox_result)), ("gc_sandbox_outcome_name", c_char_p, c_int),
    # mas.h, sched.h
    ("gc_prompts_load", _st, c_char_p, _P(gc_prompt_set_p)), ("gc_prompts_for_task", _st, c_char_p, _P(gc_prompt_set_p)),
    ("gc_prompts_free", None, gc_prompt_set_p), ("gc_prompts_family", c_char_p, gc_prompt_set_p),
    ("gc_mas_default_params", gc_mas_params), ("gc_method_from_name", _st, c_char_p, _P(c_int)),
    ("gc_mas_mode_from_name", _st, c_char_p, _P(c_int)), ("gc_pass_from_name", _st, c_char_p, _P(c_int)),
    ("gc_mas_build", _st, gc_prompt_set_p, _P(gc_mas_params), c_char_p, c_uint64, _P(gc_qgraph)),
    ("gc_mas_clear", None, _P(gc_qgraph)),
    ("gc_sched_run", _st, gc_engine_p, gc_tokenizer_p, _P(_P(gc_qgraph)), c_int, _P(gc_sched_params)),
    ("gc_node_prompt", c_void_p, _P(gc_qgraph), c_int),
    # graph.h, learn.h
    ("gc_topology_from_name", _st, c_char_p, _P(c_int)), ("gc_topology_name", c_char_p, c_int),
    ("gc_topology_fixed", _st, c_int, c_int, c_uint64, _P(gc_topo)),
    ("gc_prompts_n_roles", c_int, gc_prompt_set_p), ("gc_prompts_role_name", c_char_p, gc_prompt_set_p, c_int),
    ("gc_prompts_role_description", c_char_p, gc_prompt_set_p, c_int),
    ("gc_prompts_role_adjacency", None, gc_prompt_set_p, c_int, _P(c_double)),
    ("gc_graph_default_params", gc_graph_params),
    ("gc_graph_build", _st, gc_prompt_set_p, _P(gc_graph_params), _P(gc_topo), _P(gc_fuser_choice), c_char_p,
     c_uint64, _P(gc_qgraph)),
    ("gc_policy_default_params", gc_policy_params),
    ("gc_policy_new", _st, _P(gc_policy_params), _P(c_double), _P(gc_policy_p)), ("gc_policy_free", None, gc_policy_p),
    ("gc_policy_get_config", gc_policy_params, gc_policy_p), ("gc_sample_clear", None, _P(gc_sample)),
    ("gc_policy_sample", _st, gc_policy_p, _P(c_double), c_bool, _P(gc_sample)),
    ("gc_policy_greedy", _st, gc_policy_p, _P(c_double), _P(gc_sample)),
    ("gc_policy_sample_seeded", _st, gc_policy_p, _P(c_double), c_uint64, _P(gc_sample)),
    ("gc_policy_edge_probs", None, gc_policy_p, _P(c_double), _P(c_double)),
    ("gc_policy_temporal_probs", None, gc_policy_p, _P(c_double)),
    ("gc_policy_gate_probs", None, gc_policy_p, _P(c_double)),
    ("gc_policy_fuse_means", None, gc_policy_p, _P(c_double)),
    ("gc_policy_update", _st, gc_policy_p, _P(_P(gc_sample)), _P(c_double), c_int, _P(gc_train_stats)),
    ("gc_policy_n_params", c_size_t, gc_policy_p), ("gc_policy_get_params", None, gc_policy_p, _P(c_double)),
    ("gc_policy_baseline", c_double, gc_policy_p), ("gc_policy_step", c_int64, gc_policy_p),
    ("gc_policy_save", _st, gc_policy_p, c_char_p),
    ("gc_policy_load", _st, c_char_p, _P(gc_policy_params), _P(gc_policy_p)),
    # run.h
    ("gc_run_default_params", gc_run_params), ("gc_run_params_check", _st, _P(gc_run_params)),
    ("gc_run_open", _st, _P(gc_run_params), _P(gc_run_p)), ("gc_run_free", None, gc_run_p),
    ("gc_run_execute", _st, gc_run_p), ("gc_run_label", c_char_p, gc_run_p),
    ("gc_train_open", _st, gc_run_p, gc_policy_p, _P(gc_train_p)), ("gc_train_free", None, gc_train_p),
    ("gc_train_step", _st, gc_train_p, _P(gc_train_iter), _P(c_bool)),
    ("gc_train_policy", gc_policy_p, gc_train_p), ("gc_train_take_policy", gc_policy_p, gc_train_p),
    ("gc_train_next_offset", c_int64, gc_train_p), ("gc_train_iters_done", c_int64, gc_train_p),
]
for _p in _PROTOS:
    _proto(*_p)

# The C library's allocator: strings the library hands over are released with its free().
libc_free = ctypes.CDLL(None).free
libc_free.restype = None
libc_free.argtypes = [c_void_p]


def take_string(ptr: int | None) -> str:
    """Copies a malloc'd NUL-terminated UTF-8 string handed over by the library, then frees it."""
    if not ptr:
        return ""
    try:
        return ctypes.string_at(ptr).decode("utf-8", errors="replace")
    finally:
        libc_free(ptr)


def _check_layouts() -> None:
    for st in MIRRORED:
        name = st.__name__.encode()
        size = lib.gc_struct_size(name)
        if size != ctypes.sizeof(st):
            raise ImportError(f"gcache: {st.__name__} is {size} bytes in libgcache.so but {ctypes.sizeof(st)} in "
                              "the Python binding: the package and the library are out of step (rebuild it)")
        n_c = lib.gc_struct_n_fields(name)
        if n_c != len(st._fields_):
            raise ImportError(f"gcache: {st.__name__} has {n_c} fields in libgcache.so but {len(st._fields_)} in the "
                              "Python binding (rebuild / update the binding)")
        for field, _ in st._fields_:
            off = lib.gc_struct_offset(name, field.encode())
            if off != getattr(st, field).offset:
                raise ImportError(f"gcache: {st.__name__}.{field} is at offset {off} in libgcache.so but "
                                  f"{getattr(st, field).offset} in the Python binding (rebuild / update the binding)")


_check_layouts()
