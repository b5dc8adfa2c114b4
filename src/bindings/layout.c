// The struct layout table behind gcache/layout.h: every struct the Python
// package mirrors, with every field.
#include "gcache/layout.h"
#include "gcache/eval.h"
#include "gcache/learn.h"
#include "gcache/run.h"
#include "gcache/trace.h"
#include <stddef.h>
#include <string.h>

typedef struct field_entry {
    const char *type, *field;
    size_t offset;
} field_entry;

typedef struct struct_entry {
    const char *type;
    size_t size;
} struct_entry;

#define S(T) {#T, sizeof(T)},
static const struct_entry structs[] = {
    S(gc_model_info) S(gc_cpu_debug) S(gc_cuda_debug) S(gc_engine_params) S(gc_seq_step) S(gc_sampler_params) S(gc_token_draw) S(gc_gen_params)
    S(gc_gen_result) S(gc_trace_seg) S(gc_trace) S(gc_trace_opts) S(gc_chat_msg) S(gc_chat_opts) S(gc_mas_params)
    S(gc_node) S(gc_qgraph) S(gc_sched_params) S(gc_sched_event) S(gc_graph_params) S(gc_topo) S(gc_fuser_choice)
    S(gc_policy_params) S(gc_sample) S(gc_train_stats) S(gc_question) S(gc_dataset_options) S(gc_score)
    S(gc_sandbox_limits) S(gc_sandbox_result) S(gc_run_progress) S(gc_run_params) S(gc_train_iter)
};
#undef S

#define F(T, f) {#T, #f, offsetof(T, f)},
static const field_entry fields[] = {
    F(gc_model_info, arch) F(gc_model_info, source) F(gc_model_info, vocab_size) F(gc_model_info, hidden_size)
    F(gc_model_info, intermediate_size) F(gc_model_info, n_layers) F(gc_model_info, n_heads)
    F(gc_model_info, n_kv_heads) F(gc_model_info, head_dim) F(gc_model_info, max_position)
    F(gc_model_info, rope_theta) F(gc_model_info, rms_eps) F(gc_model_info, tie_embeddings)
    F(gc_model_info, weight_dtype) F(gc_model_info, n_params) F(gc_model_info, weight_bytes)

    F(gc_cpu_debug, qgemm_avx2) F(gc_cpu_debug, gguf_layout)
    F(gc_cuda_debug, graphs) F(gc_cuda_debug, decode_attention) F(gc_cuda_debug, pdl_max_t)
    F(gc_cuda_debug, attn_blocks_per_sm) F(gc_cuda_debug, skinny_max_t) F(gc_cuda_debug, profile)
    F(gc_cuda_debug, batch_invariant)
    F(gc_engine_params, n_threads) F(gc_engine_params, kv_pool_bytes) F(gc_engine_params, device)
    F(gc_engine_params, exact) F(gc_engine_params, cpu) F(gc_engine_params, cuda) F(gc_engine_params, kv_dtype)

    F(gc_seq_step, kv) F(gc_seq_step, n) F(gc_seq_step, ids) F(gc_seq_step, embeds) F(gc_seq_step, logits)
    F(gc_seq_step, logits_all) F(gc_seq_step, hidden) F(gc_seq_step, hidden_all) F(gc_seq_step, argmax)
    F(gc_seq_step, draw) F(gc_seq_step, in_rows) F(gc_seq_step, in_row) F(gc_seq_step, hidden_rows)
    F(gc_seq_step, hidden_row)

    F(gc_sampler_params, temperature) F(gc_sampler_params, top_p) F(gc_sampler_params, top_k)
    F(gc_sampler_params, seed)
    F(gc_token_draw, temperature) F(gc_token_draw, top_p) F(gc_token_draw, top_k) F(gc_token_draw, u)

    F(gc_gen_params, max_tokens) F(gc_gen_params, sampling) F(gc_gen_params, stop) F(gc_gen_params, ignore_eos)
    F(gc_gen_result, text) F(gc_gen_result, text_len) F(gc_gen_result, ids) F(gc_gen_result, n_ids)
    F(gc_gen_result, n_prompt) F(gc_gen_result, finish) F(gc_gen_result, unfed) F(gc_gen_result, prefill_s)
    F(gc_gen_result, decode_s)

    F(gc_trace_seg, type) F(gc_trace_seg, n) F(gc_trace_seg, logits) F(gc_trace_seg, hidden)
    F(gc_trace_seg, logits_last) F(gc_trace_seg, ids) F(gc_trace_seg, cache_len)
    F(gc_trace, n_segs) F(gc_trace, segs) F(gc_trace, vocab) F(gc_trace, dim)
    F(gc_trace_opts, realign)

    F(gc_chat_msg, role) F(gc_chat_msg, content)
    F(gc_chat_opts, add_generation_prompt) F(gc_chat_opts, enable_thinking)

    F(gc_mas_params, method) F(gc_mas_params, mode) F(gc_mas_params, latent_steps) F(gc_mas_params, pass)
    F(gc_mas_params, think) F(gc_mas_params, max_tokens) F(gc_mas_params, agent_max_tokens)
    F(gc_mas_params, style)

    F(gc_node, role) F(gc_node, n_preds) F(gc_node, preds) F(gc_node, text_in) F(gc_node, prompt)
    F(gc_node, latent_steps) F(gc_node, max_tokens) F(gc_node, pass) F(gc_node, fuse) F(gc_node, fuse_w)
    F(gc_node, gate) F(gc_node, score_prefix) F(gc_node, score_text) F(gc_node, text) F(gc_node, prompt_tokens)
    F(gc_node, out_tokens) F(gc_node, latent_done) F(gc_node, cache_in_len) F(gc_node, cache_out_len)
    F(gc_node, cache_out_bytes) F(gc_node, finish) F(gc_node, t_start) F(gc_node, t_end) F(gc_node, score_logp)
    F(gc_node, score_tokens)
    F(gc_qgraph, n_nodes) F(gc_qgraph, nodes) F(gc_qgraph, output) F(gc_qgraph, seed) F(gc_qgraph, t_done)
    F(gc_sched_params, sampling) F(gc_sched_params, on_event) F(gc_sched_params, user) F(gc_sched_params, realign)
    F(gc_sched_params, stop) F(gc_sched_params, prefill_rows) F(gc_sched_params, profile)
    F(gc_sched_event, kind) F(gc_sched_event, question) F(gc_sched_event, node) F(gc_sched_event, graph)
    F(gc_sched_event, t)

    F(gc_graph_params, n_agents) F(gc_graph_params, rounds) F(gc_graph_params, cache_mode)
    F(gc_graph_params, latent_steps) F(gc_graph_params, pass) F(gc_graph_params, fuse)
    F(gc_graph_params, max_tokens) F(gc_graph_params, agent_max_tokens) F(gc_graph_params, think)
    F(gc_graph_params, style)
    F(gc_topo, n) F(gc_topo, spatial) F(gc_topo, temporal)
    F(gc_fuser_choice, gate) F(gc_fuser_choice, fuse_w)

    F(gc_policy_params, n_nodes) F(gc_policy_params, feat_dim) F(gc_policy_params, n_layers)
    F(gc_policy_params, hidden) F(gc_policy_params, code_dim) F(gc_policy_params, temperature)
    F(gc_policy_params, gate_temperature) F(gc_policy_params, fuse_sigma) F(gc_policy_params, lr)
    F(gc_policy_params, clip_norm) F(gc_policy_params, baseline_beta) F(gc_policy_params, use_baseline)
    F(gc_policy_params, learn_temporal) F(gc_policy_params, learn_gates) F(gc_policy_params, learn_fuse)
    F(gc_policy_params, dropout) F(gc_policy_params, seed)
    F(gc_sample, topo) F(gc_sample, n_layers) F(gc_sample, gate) F(gc_sample, fuse_w) F(gc_sample, logp)
    F(gc_sample, decided) F(gc_sample, fuse_s) F(gc_sample, has_temporal) F(gc_sample, has_gates)
    F(gc_sample, has_fuse) F(gc_sample, priv)
    F(gc_train_stats, step) F(gc_train_stats, loss) F(gc_train_stats, mean_utility) F(gc_train_stats, baseline)
    F(gc_train_stats, mean_logp) F(gc_train_stats, grad_norm)

    F(gc_question, id) F(gc_question, question) F(gc_question, gold) F(gc_question, n_choices)
    F(gc_question, code_prompt) F(gc_question, entry_point) F(gc_question, line)
    F(gc_dataset_options, strict) F(gc_dataset_options, seed)
    F(gc_score, extracted) F(gc_score, correct) F(gc_score, pred)
    F(gc_sandbox_limits, cpu_seconds) F(gc_sandbox_limits, wall_seconds) F(gc_sandbox_limits, memory_bytes)
    F(gc_sandbox_limits, max_procs) F(gc_sandbox_limits, max_file_bytes) F(gc_sandbox_limits, output_cap)
    F(gc_sandbox_limits, python) F(gc_sandbox_limits, tmp_root) F(gc_sandbox_limits, run_as_uid)
    F(gc_sandbox_result, outcome) F(gc_sandbox_result, passed) F(gc_sandbox_result, exit_code)
    F(gc_sandbox_result, signal) F(gc_sandbox_result, wall_seconds) F(gc_sandbox_result, cpu_seconds)
    F(gc_sandbox_result, output) F(gc_sandbox_result, output_len) F(gc_sandbox_result, output_dropped)
    F(gc_sandbox_result, net_isolated) F(gc_sandbox_result, pid_isolated) F(gc_sandbox_result, uid_dropped)
    F(gc_sandbox_result, reason) F(gc_sandbox_result, workdir)
    F(gc_run_progress, event) F(gc_run_progress, label) F(gc_run_progress, unit) F(gc_run_progress, total)
    F(gc_run_progress, start) F(gc_run_progress, done) F(gc_run_progress, note)
    F(gc_run_params, method) F(gc_run_params, task) F(gc_run_params, dataset) F(gc_run_params, model)
    F(gc_run_params, engine) F(gc_run_params, prompts) F(gc_run_params, max_samples) F(gc_run_params, offset)
    F(gc_run_params, batch) F(gc_run_params, seed) F(gc_run_params, strict) F(gc_run_params, max_tokens)
    F(gc_run_params, agent_max_tokens) F(gc_run_params, temperature) F(gc_run_params, top_p) F(gc_run_params, top_k)
    F(gc_run_params, think) F(gc_run_params, mode) F(gc_run_params, pass) F(gc_run_params, latent_steps)
    F(gc_run_params, realign) F(gc_run_params, topology) F(gc_run_params, agents) F(gc_run_params, rounds)
    F(gc_run_params, text_mode) F(gc_run_params, fuse) F(gc_run_params, score_answer) F(gc_run_params, gates)
    F(gc_run_params, train_iters) F(gc_run_params, batch_size) F(gc_run_params, train_offset) F(gc_run_params, lr)
    F(gc_run_params, edge_temperature) F(gc_run_params, baseline) F(gc_run_params, reward)
    F(gc_run_params, eval_policy) F(gc_run_params, out) F(gc_run_params, resume) F(gc_run_params, trace)
    F(gc_run_params, profile) F(gc_run_params, prefill_rows) F(gc_run_params, checkpoint) F(gc_run_params, gen_mode) F(gc_run_params, env_file)
    F(gc_run_params, api_concurrency) F(gc_run_params, model_handle) F(gc_run_params, engine_handle)
    F(gc_run_params, realignment) F(gc_run_params, questions) F(gc_run_params, policy) F(gc_run_params, on_record)
    F(gc_run_params, on_progress) F(gc_run_params, on_note) F(gc_run_params, user)
    F(gc_train_iter, iter) F(gc_train_iter, n_iters) F(gc_train_iter, stats) F(gc_train_iter, log_line)
};
#undef F

size_t gc_struct_size(const char *name) {
    for (size_t i = 0; name && i < sizeof structs / sizeof *structs; i++)
        if (strcmp(structs[i].type, name) == 0) return structs[i].size;
    return 0;
}

size_t gc_struct_offset(const char *name, const char *field) {
    for (size_t i = 0; name && field && i < sizeof fields / sizeof *fields; i++)
        if (strcmp(fields[i].type, name) == 0 && strcmp(fields[i].field, field) == 0) return fields[i].offset;
    return (size_t)-1;
}

int gc_struct_n_fields(const char *name) {
    int n = 0;
    for (size_t i = 0; name && i < sizeof fields / sizeof *fields; i++) n += strcmp(fields[i].type, name) == 0;
    return n;
}
