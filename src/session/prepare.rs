//! Data preparation for one model, with its tokenizer (the worker's) and before any engine
//! loads: prompts as exact token ids framed by the request format, checked against the model's
//! `max_model_len`; and `--dry-run`, which stops there.

use crate::backend::protocol::{EngineKind, FromWorker, Ready, ToWorker};
use crate::backend::worker::Worker;
use crate::bail_usage;
use crate::data::files::FileRow;
use crate::data::prompts::{
    Conversation, LaterTurn, Prepared, PromptFrame, RequestSource, RequestSpec, SyntheticSource,
    TraceTiming, CORPUS_TEXT,
};
use crate::data::trace::{mooncake_prompt, Blocks, Trace, TraceKind, TraceSource};
use crate::plan::{DataSource, Plan, RequestFormat};
use anyhow::{anyhow, Result};
use rand::SeedableRng;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Everything a model's benchmarks draw their requests from, prepared before the engine loads.
pub struct Prep {
    pub frame: PromptFrame,
    /// The request stream of the first benchmark.
    pub source: Box<dyn RequestSource>,
    /// With a fixed sample count (or a dataset file), every benchmark makes one pass over these.
    pub prepared: Option<Arc<Vec<RequestSpec>>>,
    /// Warm-up requests (outputs capped).
    pub warm: Box<dyn RequestSource>,
}

/// Builds the requests for `model` with its tokenizer (the worker's), and checks the longest
/// prompt plus its output against the model's `max_model_len`.
pub fn prepare_data(worker: &mut Worker, plan: &Plan, ready: &Ready, model: &str) -> Result<Prep> {
    let frame = frame_for(worker, plan, None)?;
    let (prep, max_prompt, max_out) = match &plan.data {
        DataSource::Synthetic(spec) => synthetic(worker, plan, ready, spec, frame)?,
        DataSource::File {
            rows,
            output_from_reply,
            recorded_replies,
            ..
        } => from_file(
            worker,
            plan,
            rows,
            (*output_from_reply, *recorded_replies),
            frame,
        )?,
        DataSource::Trace(trace) => from_trace(worker, plan, ready, trace, frame, model)?,
    };
    if let Some(limit) = ready.max_model_len {
        if max_prompt + max_out.unwrap_or(1) > limit {
            let turns = plan.conversations().is_some();
            bail_usage!(
                "--data asks for prompts of up to {max_prompt} tokens{}{} but model {model} has max_model_len {limit}; raise it with --backend-kwargs '{{\"vllm_config\": {{\"max_model_len\": N}}}}' (up to the model's limit) or ask for {}",
                if turns { " (a conversation's last turn, with its history of earlier prompts and replies)" } else { "" },
                max_out.map(|o| format!(" plus {o} output tokens")).unwrap_or_default(),
                if turns { "fewer or shorter turns" } else { "shorter prompts" }
            );
        }
    }
    Ok(prep)
}

/// Synthetic requests: windows of the tokenized corpus (the mock's vocabulary for the mock),
/// a seeded stream — or a fixed sample when `samples=` is set. With the longest prompt and output.
fn synthetic(
    worker: &mut Worker,
    plan: &Plan,
    ready: &Ready,
    spec: &crate::data::synthetic::SyntheticSpec,
    frame: PromptFrame,
) -> Result<(Prep, u64, Option<u64>)> {
    let corpus = corpus(worker, plan, ready)?;
    if spec.turns > 1 && frame.turn.is_none() {
        bail_usage!(
            "--data: turns={} needs the request format to frame a conversation's later turns, and the {} format cannot ({}); use --request-format plain",
            spec.turns,
            frame.format,
            frame.turn_note.as_deref().unwrap_or("no reason given")
        );
    }
    let mut source = SyntheticSource::new(spec.clone(), corpus.clone(), frame.clone(), plan.seed);
    let (p, o) = source.max_lengths();
    let prepared: Option<Arc<Vec<RequestSpec>>> = plan
        .data_samples
        .map(|n| Arc::new((0..n).filter_map(|_| source.next_request()).collect()));
    let warm = Capped {
        inner: Box::new(SyntheticSource::new(
            spec.clone(),
            corpus,
            frame.clone(),
            plan.seed ^ 0x5741_524d,
        )),
        cap: 16,
    };
    let source: Box<dyn RequestSource> = match &prepared {
        Some(v) => Box::new(Prepared::new(v.clone())),
        None => Box::new(source),
    };
    let prep = Prep {
        frame,
        source,
        prepared,
        warm: Box::new(warm),
    };
    Ok((prep, p, o))
}

/// The token corpus synthetic prompts are cut from: the built-in text tokenized by the model's
/// tokenizer (the mock's vocabulary for the mock).
fn corpus(worker: &mut Worker, plan: &Plan, ready: &Ready) -> Result<Vec<u32>> {
    Ok(if plan.engine == EngineKind::Mock {
        let vocab = ready.vocab_size.unwrap_or(32_000).max(64) as u32;
        (16..vocab.min(4096)).collect()
    } else {
        let mut t = tokenize(worker, vec![CORPUS_TEXT.to_string()])?;
        t.pop()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| anyhow!("the tokenizer returned no tokens for the corpus"))?
    })
}

/// Requests from a trace's rows (up to `samples=`), each with its arrival time: Mooncake rows
/// assembled from their token blocks, `trace_synthetic` rows as synthetic prompts of their length
/// or their prompt text tokenized. Every row's prompt plus output is checked against the model's
/// `max_model_len`, naming the first row that does not fit. With the longest prompt and output.
fn from_trace(
    worker: &mut Worker,
    plan: &Plan,
    ready: &Ready,
    trace: &Trace,
    frame: PromptFrame,
    model: &str,
) -> Result<(Prep, u64, Option<u64>)> {
    let n = plan
        .data_samples
        .map_or(trace.rows.len(), |n| (n as usize).min(trace.rows.len()));
    let rows = &trace.rows[..n];
    let needs_corpus = rows.iter().any(|r| r.prompt.is_none());
    let corpus = if needs_corpus {
        corpus(worker, plan, ready)?
    } else {
        Vec::new()
    };
    let mut alphabet = corpus.clone();
    alphabet.sort_unstable();
    alphabet.dedup();
    // Prompt texts, tokenized and framed as a dataset file's rows are.
    let texts: Vec<FileRow> = rows
        .iter()
        .filter_map(|r| {
            r.prompt.as_ref().map(|t| FileRow {
                text: t.clone(),
                system: None,
                prompt_tokens: None,
                output_tokens: None,
                reply: None,
                later: Vec::new(),
            })
        })
        .collect();
    let texts = file_requests(worker, plan, &frame, &texts, (false, false))?;
    // Each copy of the trace builds its prompts anew (its blocks salted by the copy, as
    // GuideLLM's hash tables are per pass), so a later pass does not hit the earlier's cache.
    let copies = trace.spec.timing.copies;
    let mut by_copy: Vec<Vec<RequestSpec>> = Vec::with_capacity(copies as usize);
    for copy in 0..copies as u64 {
        let salt = copy.wrapping_mul(1_000_003);
        let mut texts = texts.iter().cloned();
        let mut blocks = Blocks::new(
            &corpus,
            &alphabet,
            plan.seed.wrapping_add(salt),
            trace.spec.block_size,
        );
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(plan.seed.wrapping_add(salt));
        let mut specs = Vec::with_capacity(n);
        for r in rows {
            let mut spec = match (trace.spec.kind, &r.prompt) {
                (TraceKind::Mooncake, _) => mooncake_prompt(r, &mut blocks, &trace.uses, &frame),
                (TraceKind::Synthetic, Some(_)) => texts.next().expect("one per text row"),
                (TraceKind::Synthetic, None) => synthetic_prompt(
                    r.input_length.unwrap_or(1),
                    &corpus,
                    &alphabet,
                    &frame,
                    &mut rng,
                ),
            };
            spec.max_tokens = r.output_length;
            if let Some(limit) = ready.max_model_len {
                let (p, o) = (
                    spec.prompt.len() as u64,
                    spec.max_tokens.unwrap_or(1) as u64,
                );
                if p + o > limit {
                    bail_usage!(
                        "--data kind={}: {} row {} asks for {p} prompt tokens plus {} output tokens, but model {model} has max_model_len {limit}; raise it with vllm_config's max_model_len (up to the model's limit) or leave the row out",
                        trace.spec.kind.name(),
                        trace.spec.path.display(),
                        r.line,
                        spec.max_tokens.unwrap_or(1)
                    );
                }
            }
            specs.push(spec);
        }
        by_copy.push(specs);
    }
    let p = by_copy[0]
        .iter()
        .map(|r| r.prompt.len() as u64)
        .max()
        .unwrap_or(0);
    let o = by_copy[0]
        .iter()
        .filter_map(|r| r.max_tokens)
        .max()
        .map(|m| m as u64);
    // Sessions on the replay's timeline: a conversation's first row is the request served, its
    // later rows ride along, each due on the trace's time once the one before it has ended.
    let mut specs = Vec::new();
    let mut arrivals = Vec::new();
    for session in trace.sessions() {
        let mut turns = session.turns.into_iter().filter(|t| t.row < n);
        let Some(first) = turns.next() else {
            continue;
        };
        let built = &mut by_copy[session.copy as usize];
        let mut spec = std::mem::take(&mut built[first.row]);
        let later: std::collections::VecDeque<LaterTurn> = turns
            .map(|t| {
                let r = std::mem::take(&mut built[t.row]);
                LaterTurn {
                    trace: Some(TraceTiming {
                        at_s: t.at_s,
                        gap_s: t.gap_s,
                        content_tokens: r.content_tokens,
                    }),
                    content: r.prompt,
                    max_tokens: r.max_tokens,
                    recorded_reply: None,
                }
            })
            .collect();
        if !later.is_empty() {
            spec.conversation = Some(Box::new(Conversation {
                later,
                delay_ns: 0,
                frame: Arc::default(),
                suffix: Arc::default(),
                messages: None,
            }));
        }
        specs.push(spec);
        arrivals.push(first.at_s);
    }
    let specs = Arc::new(specs);
    let arrivals = Arc::new(arrivals);
    let warm = warm_requests(&specs, plan.warmup_requests);
    let prep = Prep {
        frame,
        source: Box::new(TraceSource::new(specs.clone(), arrivals)),
        prepared: Some(specs),
        warm: Box::new(warm),
    };
    Ok((prep, p, o))
}

/// A synthetic prompt of exactly `n` tokens in its frame (with `plain`, a BOS the tokenizer adds
/// counts among them).
fn synthetic_prompt(
    n: u32,
    corpus: &[u32],
    alphabet: &[u32],
    frame: &PromptFrame,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> RequestSpec {
    let body = if frame.counts_in_content() {
        (n as usize).saturating_sub(frame.prefix.len()).max(1)
    } else {
        n as usize
    };
    let mut prompt = Vec::with_capacity(body + frame.prefix.len() + frame.suffix.len());
    prompt.extend_from_slice(&frame.prefix);
    prompt.extend(crate::data::prompts::window(corpus, alphabet, rng, body));
    prompt.extend_from_slice(&frame.suffix);
    RequestSpec {
        prompt,
        content_tokens: n,
        prefix_tokens: 0,
        max_tokens: None,
        conversation: None,
        messages: None,
        prefix_bucket: None,
    }
}

/// Requests from a dataset file's rows (up to `samples=`); every benchmark makes one pass over
/// them. With the longest prompt and output.
fn from_file(
    worker: &mut Worker,
    plan: &Plan,
    rows: &[FileRow],
    replies: (bool, bool),
    frame: PromptFrame,
) -> Result<(Prep, u64, Option<u64>)> {
    let n = plan
        .data_samples
        .map_or(rows.len(), |n| (n as usize).min(rows.len()));
    let specs = Arc::new(file_requests(worker, plan, &frame, &rows[..n], replies)?);
    let p = specs.iter().map(last_turn_len).max().unwrap_or(0);
    let o = specs
        .iter()
        .flat_map(|r| {
            let later = r.conversation.iter().flat_map(|c| c.later.iter());
            std::iter::once(r.max_tokens).chain(later.map(|t| t.max_tokens))
        })
        .flatten()
        .max()
        .map(|m| m as u64);
    let warm = warm_requests(&specs, plan.warmup_requests);
    let prep = Prep {
        frame,
        source: Box::new(Prepared::new(specs.clone())),
        prepared: Some(specs),
        warm: Box::new(warm),
    };
    Ok((prep, p, o))
}

fn tokenize(worker: &mut Worker, texts: Vec<String>) -> Result<Vec<Vec<u32>>> {
    let reply = worker.call(
        |id| ToWorker::Tokenize {
            id,
            texts,
            add_special_tokens: false,
        },
        Duration::from_secs(300),
    )?;
    match reply {
        FromWorker::Tokenized { token_ids, .. } => Ok(token_ids),
        _ => Err(anyhow!("unexpected reply to tokenize")),
    }
}

/// The request format's token frame, with an optional system message.
fn frame_for(worker: &mut Worker, plan: &Plan, system: Option<String>) -> Result<PromptFrame> {
    if plan.engine == EngineKind::Mock && matches!(plan.data, DataSource::Synthetic(_)) {
        return Ok(PromptFrame {
            format: "plain".into(),
            turn: Some(vec![]),
            ..Default::default()
        });
    }
    let (format, template) = match &plan.request_format {
        RequestFormat::Plain => ("plain", None),
        RequestFormat::DefaultTemplate => ("default-template", None),
        RequestFormat::Jinja { source, .. } => ("jinja", Some(source.clone())),
    };
    let reply = worker.call(
        |id| ToWorker::FramePrompt {
            id,
            format: format.into(),
            template,
            system,
        },
        Duration::from_secs(60),
    )?;
    let FromWorker::Framed {
        prefix_ids,
        suffix_ids,
        turn_ids,
        turn_note,
        ..
    } = reply
    else {
        return Err(anyhow!("unexpected reply to frame_prompt"));
    };
    Ok(PromptFrame {
        format: format.into(),
        prefix: prefix_ids,
        suffix: suffix_ids,
        turn: turn_ids,
        turn_note,
    })
}

/// Requests from dataset rows: each text tokenized once, framed by the request format (with the
/// row's system message), cut or extended to the row's prompt-token target when it has one.
fn file_requests(
    worker: &mut Worker,
    plan: &Plan,
    plain_frame: &PromptFrame,
    rows: &[FileRow],
    (output_from_reply, recorded_replies): (bool, bool),
) -> Result<Vec<RequestSpec>> {
    let plain = matches!(plan.request_format, RequestFormat::Plain);
    // `plain` joins the messages' contents with spaces (GuideLLM's plain format).
    let texts: Vec<String> = rows
        .iter()
        .map(|r| match (&r.system, plain) {
            (Some(s), true) => format!("{s} {}", r.text),
            _ => r.text.clone(),
        })
        .collect();
    let ids = tokenize_all(worker, &texts)?;
    let replies: Vec<Option<u32>> = if output_from_reply || recorded_replies {
        let r: Vec<String> = rows
            .iter()
            .map(|r| r.reply.clone().unwrap_or_default())
            .collect();
        tokenize_all(worker, &r)?
            .into_iter()
            .map(|t| (!t.is_empty()).then_some(t.len() as u32))
            .collect()
    } else {
        vec![None; rows.len()]
    };
    let mut frames: HashMap<Option<String>, PromptFrame> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (i, (row, content)) in rows.iter().zip(ids).enumerate() {
        let system = if plain { None } else { row.system.clone() };
        let frame = match frames.get(&system) {
            Some(f) => f.clone(),
            None if system.is_none() => plain_frame.clone(),
            None => {
                let f = frame_for(worker, plan, system.clone())?;
                frames.insert(system, f.clone());
                f
            }
        };
        let mut r = framed(plan, i, row, content, &frame)?;
        r.max_tokens = row.output_tokens.or(replies[i]);
        out.push(r);
    }
    conversations(
        worker,
        plain_frame,
        rows,
        &mut out,
        output_from_reply,
        recorded_replies,
    )?;
    Ok(out)
}

/// File conversations: each row with later user turns opens a conversation replayed turn by
/// turn (docs/metrics.md, "Conversations"), the engine's replies in its history — or, with
/// `recorded_replies`, the dataset's, whose lengths are then the output targets (as they are
/// with `output_from_reply`).
fn conversations(
    worker: &mut Worker,
    frame: &PromptFrame,
    rows: &[FileRow],
    out: &mut [RequestSpec],
    output_from_reply: bool,
    recorded_replies: bool,
) -> Result<()> {
    let with_turns: Vec<usize> = (0..rows.len())
        .filter(|&i| !rows[i].later.is_empty())
        .collect();
    if with_turns.is_empty() {
        return Ok(());
    }
    let Some(turn) = frame.turn.clone() else {
        bail_usage!(
            "--data: the file holds conversations of several turns, and the {} request format cannot frame their later turns ({}); use --request-format plain",
            frame.format,
            frame.turn_note.as_deref().unwrap_or("no reason given")
        );
    };
    let (turn, suffix) = (Arc::new(turn), Arc::new(frame.suffix.clone()));
    let later = |f: fn(&crate::data::files::FileTurn) -> String| -> Vec<String> {
        with_turns
            .iter()
            .flat_map(|&i| rows[i].later.iter().map(f))
            .collect()
    };
    let mut texts = tokenize_all(worker, &later(|t| t.text.clone()))?.into_iter();
    let lengths = output_from_reply || recorded_replies;
    let mut replies = if lengths {
        tokenize_all(worker, &later(|t| t.reply.clone().unwrap_or_default()))?
    } else {
        Vec::new()
    }
    .into_iter();
    let mut before = if recorded_replies {
        tokenize_all(
            worker,
            &later(|t| t.reply_before.clone().unwrap_or_default()),
        )?
    } else {
        Vec::new()
    }
    .into_iter();
    for &i in &with_turns {
        let later = rows[i]
            .later
            .iter()
            .map(|_| LaterTurn {
                content: texts.next().unwrap_or_default(),
                max_tokens: replies
                    .next()
                    .filter(|r| !r.is_empty())
                    .map(|r| r.len() as u32),
                trace: None,
                recorded_reply: before.next(),
            })
            .collect();
        let first = &out[i].prompt;
        let content = first
            [frame.prefix.len().min(first.len())..first.len().saturating_sub(frame.suffix.len())]
            .to_vec();
        out[i].conversation = Some(Box::new(Conversation {
            later,
            delay_ns: 0,
            frame: turn.clone(),
            suffix: suffix.clone(),
            messages: frame.turn_note.is_some().then(|| vec![("user", content)]),
        }));
    }
    Ok(())
}

/// The prompt length of a request's last turn: its own, or for a conversation the history it
/// will have grown to, each reply counted at its output target (a reply without one at 0, so
/// the check cannot see it: the engine then refuses a turn that does not fit).
fn last_turn_len(r: &RequestSpec) -> u64 {
    let mut n = r.prompt.len() as u64;
    if let Some(c) = &r.conversation {
        let mut prev_out = r.max_tokens;
        for t in &c.later {
            let reply = t
                .recorded_reply
                .as_ref()
                .map(|v| v.len() as u64)
                .or(prev_out.map(u64::from))
                .unwrap_or(0);
            n += reply + (c.frame.len() + t.content.len() + c.suffix.len()) as u64;
            prev_out = t.max_tokens;
        }
    }
    n
}

/// Tokenizes `texts` in chunks of 256 (one message each).
fn tokenize_all(worker: &mut Worker, texts: &[String]) -> Result<Vec<Vec<u32>>> {
    let mut ids = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(256) {
        ids.extend(tokenize(worker, chunk.to_vec())?);
    }
    Ok(ids)
}

/// Row `i`'s content in its frame, cut or cycled to the row's prompt-token target.
fn framed(
    plan: &Plan,
    i: usize,
    row: &FileRow,
    mut content: Vec<u32>,
    frame: &PromptFrame,
) -> Result<RequestSpec> {
    if let Some(n) = row.prompt_tokens {
        if content.is_empty() {
            bail_usage!(
                "--data {}: row {} has an empty prompt but asks for {n} prompt tokens",
                plan.data_arg,
                i + 1
            );
        }
        // With `plain` a BOS the tokenizer adds counts among the requested tokens.
        let n = if frame.counts_in_content() {
            (n as usize).saturating_sub(frame.prefix.len()).max(1)
        } else {
            n as usize
        };
        content = content.iter().copied().cycle().take(n).collect();
    }
    let content_tokens = content.len() as u32;
    let mut prompt = Vec::with_capacity(frame.prefix.len() + content.len() + frame.suffix.len());
    prompt.extend_from_slice(&frame.prefix);
    prompt.extend(content);
    prompt.extend_from_slice(&frame.suffix);
    Ok(RequestSpec {
        prompt,
        content_tokens,
        prefix_tokens: 0,
        max_tokens: None,
        prefix_bucket: None,
        conversation: None,
        messages: None,
    })
}

/// Warm-up requests: the benchmark's shape, outputs capped so warming is quick.
struct Capped {
    inner: Box<dyn RequestSource>,
    cap: u32,
}

impl RequestSource for Capped {
    fn next_request(&mut self) -> Option<RequestSpec> {
        let mut r = self.inner.next_request()?;
        r.max_tokens = Some(r.max_tokens.map_or(self.cap, |m| m.min(self.cap)));
        // Warming needs no conversation: first turns only.
        r.conversation = None;
        Some(r)
    }
}

/// `--dry-run`: prepare the requests with the tokenizer only (no engine), check them, say what
/// would be sent, and optionally save them (`--save-requests`, JSON Lines of token ids).
pub fn dry_run(plan: &Plan, model: &str, prep: Prep, t0: std::time::Instant) -> Result<()> {
    let n = match &plan.data {
        // A trace is served once, whole (its copies and conversations included).
        DataSource::Trace(_) => u64::MAX,
        _ => plan
            .data_samples
            // A list of limits (one per benchmark): the largest benchmark.
            .or(plan
                .limits
                .max_requests
                .as_ref()
                .and_then(|v| v.values().iter().max().copied()))
            .unwrap_or(1000),
    };
    let mut source = prep.source;
    // Streamed, so a large trace is never held twice.
    let mut out = match &plan.save_requests {
        None => None,
        Some(path) => {
            let tmp = path.with_extension("tmp");
            let f = std::fs::File::create(&tmp)
                .map_err(|e| anyhow!("--save-requests {}: {e}", path.display()))?;
            Some((std::io::BufWriter::new(f), tmp, path))
        }
    };
    let (mut count, mut tokens, mut min, mut max) = (0usize, 0usize, usize::MAX, 0usize);
    let (mut convs, mut later, mut later_tokens) = (0usize, 0usize, 0usize);
    let mut trace_rows = false;
    for _ in 0..n {
        let Some(r) = source.next_request() else {
            break;
        };
        if let Some(c) = &r.conversation {
            convs += 1;
            later += c.later.len();
            later_tokens += c.later.iter().map(|t| t.content.len()).sum::<usize>();
            trace_rows |= c.later.iter().any(|t| t.trace.is_some());
        }
        let len = r.prompt.len();
        count += 1;
        tokens += len;
        min = min.min(len);
        max = max.max(len);
        if let Some((f, _, _)) = out.as_mut() {
            use std::io::Write;
            let mut line = json!({"prompt_token_ids": r.prompt, "content_tokens": r.content_tokens, "prefix_tokens": r.prefix_tokens, "max_tokens": r.max_tokens});
            if let Some(at) = source.arrival_s() {
                line["arrival_s"] = json!(at);
            }
            if let Some(b) = r.prefix_bucket {
                line["prefix_bucket"] = json!(b);
            }
            serde_json::to_writer(&mut *f, &line)?;
            f.write_all(b"\n")?;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if plan.console {
        println!(
            "dry run, {model}: prepared {count} requests ({tokens} prompt tokens; per request min {}, max {max}){} in {secs:.3} s after the tokenizer loaded; every check passed, no engine was started",
            if count == 0 { 0 } else { min },
            if convs > 0 && trace_rows {
                format!(", {convs} of them opening conversations with {later} later rows ({later_tokens} prompt tokens, each row its own prompt)")
            } else if convs > 0 {
                format!(", {convs} of them opening conversations with {later} later turns ({later_tokens} new-message tokens; their history comes from the engine's replies)")
            } else {
                String::new()
            }
        );
    }
    if let Some((mut f, tmp, path)) = out {
        use std::io::Write;
        f.flush()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
    }
    Ok(())
}

/// The engine warm-up's requests: the first `n` of the prepared ones, at most 16 in flight.
fn warm_requests(specs: &[RequestSpec], n: u32) -> Capped {
    Capped {
        inner: Box::new(Prepared::new(Arc::new(
            specs.iter().take(n as usize).cloned().collect(),
        ))),
        cap: 16,
    }
}
