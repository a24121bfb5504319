// The graph rewrites ("passes"), in the order they run, and the form they share. This comment is
// the reference for the passes module; each pass's header gives its full contract.
//
// #  pass (header)                    what it does                     when it runs, on what graph
// -  -------------------------------- -------------------------------- ----------------------------
// 1  fold_zero_padding                folds each ZeroPadding2D that    every forward graph, in
//    (fold_zero_padding.h)            feeds one 'valid' convolution    nn::Model::build(), before
//                                     into it as explicit padding: no  the loss and autodiff
//                                     padded copy for the backward to
//                                     keep
//
// 2  apply_remat                      runs a rematerialization         the whole-batch training
//    (remat.h)                        schedule: the stages it          graph, when a memory
//                                     recomputes become cloned forward budget's plan recomputes
//                                     nodes, which the backward reads  (the Trainer plans it with
//                                     instead of kept activations      extract_chain and fit_remat)
//
// 3  store_kept_in_bf16               keeps the forward activations    the whole-batch training
//    (bf16_storage.h)                 the backward reads in bf16       graph, with CompileOptions::
//                                     between their uses, cast back to bf16_storage; after
//                                     f32 just before the backward     apply_remat when both run
//                                     reads them
//
// 4  make_gradients_step_local        moves each update right after    last, on every whole-batch
//    (step_local_gradients.h)         its gradient's producer; a       training graph whose
//                                     gradient only its update reads   gradients need not outlive
//                                     lives in the arena, not the      the step (not with
//                                     persistent block                 keep_gradients or
//                                                                      micro-batches)
//
// 5  accumulate_micro_batch_gradients adds each gradient, times rows / instead of 2-4 when a batch
//    (micro_batch.h)                  batch_rows, into the persistent  runs in micro-batches: on
//                                     gradient right after its         the forward, loss and
//                                     producer                         backward graph (no update
//                                                                      nodes)
//
// Between 1 and 2 the Trainer adds the loss, the backward nodes (graph::add_backward) and the
// optimizer's update nodes; none of that is a pass.
//
// The form: every pass is a function
//   graph::Graph <pass>(const graph::Graph& g, const <Pass>Options& options);
// that returns the rewritten graph and leaves `g` as it was. Returned rather than rewritten in
// place because:
// - every pass rebuilds the graph node by node (node and value ids change), so returning the
//   new graph costs no extra copy;
// - what a pass applies is planned on its input and indexes it: a Chain and a RematSchedule name
//   its nodes, a Bf16StoragePlan its values. The input has to outlive the rewrite, and fit_remat
//   rewrites one training graph with one schedule after another;
// - callers weigh a graph against its rewrite (the Trainer plans both and keeps the one that
//   fits).
// A pass without options takes an empty struct, so that every pass has the same form and can
// grow options without changing its callers. A pass with nothing to rewrite returns an equal
// copy. Values keep their names (a pass adds values under new names, fold_zero_padding drops the
// folded pads' outputs, accumulate_micro_batch_gradients gives a gradient's name to the
// persistent gradient it accumulates into), so a caller finds its values in the result with
// Graph::find; fold_zero_padding also maps the ids it is given. Each pass validates its input
// and throws Error naming the node or value.
//
// Deciding is separate from rewriting: plan_bf16_storage says what store_kept_in_bf16 converts
// and why not the rest; extract_chain, solve_remat, fit_remat, min_remat_budget_bytes and
// explain_remat (remat.h) cut the graph into a chain and choose the schedule apply_remat runs.
#pragma once

#include "leantrain/passes/bf16_storage.h"
#include "leantrain/passes/fold_zero_padding.h"
#include "leantrain/passes/micro_batch.h"
#include "leantrain/passes/remat.h"
#include "leantrain/passes/step_local_gradients.h"
