/**
 * The ready-made tool-calling loop most agents need.
 *
 * Ask the model; if it asks for tools, run them (all the calls of one turn
 * at once, journaled in the order the model asked), hand back their results
 * and ask again; stop at the first answer without tool calls. Every step is
 * a sequence of journaled host calls, so an interrupted loop resumes exactly
 * where it stopped.
 *
 * Other agents can be offered to the model as tools: {@link AgentLoop.agent}
 * (the model gets the sub-agent's answer and goes on) and
 * {@link AgentLoop.handoff} (the sub-agent's answer is the loop's answer).
 * The Rust and Python SDKs' loops make the same host calls in the same
 * order, so a TypeScript, a Python and a Rust agent journal the same
 * conversation alike.
 *
 * @module
 */

import { AgentError } from './agent.js';
import * as agents from './agents.js';
import * as log from './log.js';
import { type ChatRequest, type FinishReason, LlmError, Message, type ToolCall, type ToolSpec, chat } from './llm.js';
import * as output from './output.js';
import { type Schema, ValidationError } from './schema.js';
import * as tools from './tools.js';
import { type Tool, ToolError } from './tools.js';

/** Model calls {@link AgentLoop.run} makes at most (besides output retries), unless `maxSteps` says otherwise. */
export const DEFAULT_MAX_STEPS = 10;

/** Times the model is asked again when its structured answer does not validate, unless `outputRetries` says otherwise. */
export const DEFAULT_OUTPUT_RETRIES = 2;

/**
 * What `tools:` takes: an agent {@link Tool}, the {@link ToolSpec} of a host
 * tool, or a host tool's name.
 */
export type AnyTool = Tool | ToolSpec | string;

/**
 * The JSON schema of a sub-agent tool's arguments (the Rust SDK's, byte for
 * byte, so the LLM request is the same): the model sends the sub-agent its
 * `input`.
 */
export const SUB_AGENT_SCHEMA =
  '{"type":"object","properties":{"input":{"type":"string","description":"what to ask the agent"}},"required":["input"]}';

/** Another agent offered to the model as a tool. */
interface SubAgent {
  /** The agent's name (its `[agents.NAME]` table). */
  readonly agent: string;
  /** The tool's name the model sees: `agent_NAME` or `handoff_NAME`. */
  readonly tool: string;
  readonly description: string;
  /** The child's answer ends the loop. */
  readonly handoff: boolean;
}

/** A call of a turn that gave no result: its one-line error. */
class Failed {
  constructor(readonly error: string) {}
}

/** Options of {@link AgentLoop}. */
export interface AgentLoopOptions<T> {
  /** A model the operator granted to this agent; absent: the agent's default. */
  model?: string | undefined;
  /**
   * What the model may call: agent tools ({@link tool}), host tools by name
   * or {@link ToolSpec}; absent: every host tool granted (`tools.list()`).
   */
  tools?: AnyTool[] | undefined;
  /** Most model calls; a step is one model call and the tool calls it asks for. */
  maxSteps?: number | undefined;
  /**
   * The schema of the answer (`s.object({...})`) for structured output: the
   * model is asked for JSON matching it, and `run` returns the checked
   * value. Absent: the answer is the model's text.
   */
  output?: Schema<T> | undefined;
  /** How often the model is asked again when its structured answer does not validate; it is told what is wrong. */
  outputRetries?: number | undefined;
}

/**
 * A tool-calling agent loop: a system prompt, the tools offered to the
 * model, a step limit, and the schema of the answer.
 *
 * ```ts
 * const answer = await new AgentLoop("You are a careful researcher.", { maxSteps: 5 })
 *   .run("What is durable execution?");
 * ```
 *
 * Sub-agents are added with {@link AgentLoop.agent} and {@link AgentLoop.handoff}.
 */
export class AgentLoop<T = string> {
  readonly systemPrompt: string;
  readonly model: string | undefined;
  readonly tools: AnyTool[] | undefined;
  readonly maxSteps: number;
  readonly output: Schema<T> | undefined;
  readonly outputRetries: number;
  private readonly agents: SubAgent[] = [];

  constructor(systemPrompt: string, options: AgentLoopOptions<T> = {}) {
    this.systemPrompt = systemPrompt;
    this.model = options.model;
    this.tools = options.tools === undefined ? undefined : [...options.tools];
    this.maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
    this.output = options.output;
    this.outputRetries = options.outputRetries ?? DEFAULT_OUTPUT_RETRIES;
    this.checkNames();
  }

  /**
   * Offers the agent `name` to the model as the tool `agent_NAME`
   * (arguments `{"input": "..."}`): the model sends it an input and gets its
   * answer, a child run's output, back as the tool's result. The operator
   * must allow it (`agents = ["NAME"]`). Returns this loop, to chain calls.
   *
   * ```ts
   * await new AgentLoop("Plan, then research each point.")
   *   .agent("researcher", "Researches one question and answers it")
   *   .run(topic);
   * ```
   *
   * @throws {TypeError} when a tool of that name is offered already.
   */
  agent(name: string, description: string): this {
    this.agents.push({ agent: name, tool: `agent_${name}`, description, handoff: false });
    this.checkNames();
    return this;
  }

  /**
   * Offers a hand-off to the agent `name` as the tool `handoff_NAME`
   * (arguments `{"input": "..."}`): when the model calls it, the sub-agent's
   * answer (a child run's output) is the loop's answer, checked against
   * `output` when there is one. The operator must allow it
   * (`agents = ["NAME"]`). Returns this loop, to chain calls.
   *
   * @throws {TypeError} when a tool of that name is offered already.
   */
  handoff(name: string, description: string): this {
    this.agents.push({ agent: name, tool: `handoff_${name}`, description, handoff: true });
    this.checkNames();
    return this;
  }

  private checkNames(): void {
    const names = [...(this.tools ?? []).map(toolName), ...this.agents.map((a) => a.tool)];
    const duplicates = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))].sort();
    if (duplicates.length > 0) {
      throw new TypeError(`AgentLoop: tools offered twice: ${duplicates.join(', ')}`);
    }
  }

  /**
   * Runs the loop on the user message `input` and returns the model's first
   * answer without tool calls: its text, or with `output`, the checked value.
   *
   * The tool calls of one model turn run together: the host tools in one
   * batch ({@link tools.callBatch}), the sub-agents as child runs spawned
   * together and then joined, then the agent tools, in order. A failing tool
   * (or sub-agent) does not stop the loop: the model gets `"error: ..."` as
   * that call's result and may adapt, and a `warn` line is logged once the
   * turn's calls have ended. Logs one `info` line per step.
   *
   * @throws {AgentError} when the model cannot be reached, when the step
   * limit is reached while the model still asks for tools, when a
   * hand-off's sub-agent fails, or when the structured answer is still
   * invalid after `outputRetries` retries.
   */
  async run(input: string): Promise<T> {
    const [specs, local] = this.offered();
    specs.push(
      ...this.agents.map((a) => ({ name: a.tool, description: a.description, parameters: SUB_AGENT_SCHEMA })),
    );
    let system = this.systemPrompt;
    if (this.output !== undefined) {
      system = `${system}\n\n${output.instructions(this.output)}`;
    }
    const request: ChatRequest = {
      messages: [Message.system(system), Message.user(input)],
      model: this.model,
      tools: specs,
    };
    if (this.maxSteps < 1) {
      throw new AgentError(
        `agent loop: the step limit is ${this.maxSteps}, so the model was never asked; set maxSteps to at least 1`,
      );
    }
    let retries = 0;
    let step = 0;
    for (;;) {
      step += 1;
      let response;
      try {
        response = chat(request);
      } catch (e) {
        if (e instanceof LlmError) throw new AgentError(`agent loop: step ${step}: ${e.message}`);
        throw e;
      }
      const message = response.message;
      if (message.toolCalls.length === 0) {
        if (this.output === undefined) {
          log.info(`step ${step}: final answer`);
          warnIfCut(step, response.finishReason);
          return message.content as T;
        }
        let parsed: T;
        try {
          parsed = output.parse(this.output, message.content);
        } catch (e) {
          if (!(e instanceof ValidationError)) throw e;
          const name = output.nameOf(this.output);
          if (retries >= this.outputRetries) {
            throw new AgentError(
              `agent loop: step ${step}: the answer does not match ${name} after ${retries} ` +
                `${retries === 1 ? 'retry' : 'retries'}: ${e.message}`,
            );
          }
          retries += 1;
          log.warn(`step ${step}: the answer does not match ${name}; asking again`);
          request.messages.push(message, Message.user(output.retryPrompt(e)));
          continue;
        }
        log.info(`step ${step}: final answer`);
        warnIfCut(step, response.finishReason);
        return parsed;
      }
      const names = message.toolCalls.map((c) => c.name).join(', ');
      if (step - retries >= this.maxSteps) {
        throw new AgentError(
          `agent loop: reached the step limit (${this.maxSteps}) while the model still asks for tools (${names}); raise it with maxSteps`,
        );
      }
      log.info(`step ${step}: calling tool${message.toolCalls.length === 1 ? '' : 's'} ${names}`);
      const calls = [...message.toolCalls];
      request.messages.push(message);
      const results = await this.callAll(calls, local);
      for (const [i, call] of calls.entries()) {
        const sub = this.subAgent(call.name);
        if (sub?.handoff === true) {
          // The first hand-off of the turn ends the loop.
          log.info(`step ${step}: handed off`);
          return this.handedOff(sub, results[i] as string | Failed);
        }
      }
      for (const [i, call] of calls.entries()) {
        const result = results[i] as string | Failed;
        let content: string;
        if (result instanceof Failed) {
          log.warn(`step ${step}: tool ${call.name} ${result.error}`);
          content = `error: ${result.error}`;
        } else {
          content = result;
        }
        request.messages.push(Message.toolResult(call.id, content));
      }
    }
  }

  /** The specs offered to the model, and the agent tools by name. */
  private offered(): [ToolSpec[], Map<string, Tool>] {
    if (this.tools === undefined) return [tools.list(), new Map()];
    const specs: ToolSpec[] = [];
    const local = new Map<string, Tool>();
    let granted: Map<string, ToolSpec> | undefined;
    for (const t of this.tools) {
      if (typeof t === 'string') {
        granted ??= new Map(tools.list().map((s) => [s.name, s]));
        const spec = granted.get(t);
        if (spec === undefined) {
          throw new AgentError(
            `agent loop: no host tool \`${t}\` is granted to this agent (granted: ${[...granted.keys()].join(', ') || 'none'}); ` +
              'grant it in relive.toml or remove it from tools:',
          );
        }
        specs.push(spec);
      } else if (isTool(t)) {
        specs.push(t.spec());
        local.set(t.name, t);
      } else {
        specs.push(t);
      }
    }
    return [specs, local];
  }

  private subAgent(tool: string): SubAgent | undefined {
    return this.agents.find((a) => a.tool === tool);
  }

  /**
   * Runs one turn's calls: the host tools in one batch, the sub-agents as
   * child runs started together and then joined, then the agent tools. One
   * result per call, in order.
   */
  private async callAll(calls: ToolCall[], local: Map<string, Tool>): Promise<Array<string | Failed>> {
    const subs = calls.map((c) => this.subAgent(c.name));
    const batch = calls
      .filter((c, i) => subs[i] === undefined && !local.has(c.name))
      .map((c): [string, string] => [c.name, c.arguments]);
    const hostResults = (batch.length > 0 ? tools.callBatch(batch) : []).values();
    // Sub-agents: start every child, then wait for them together.
    const spawned = calls.map((c, i) => {
      const sub = subs[i];
      return sub === undefined ? undefined : spawnChild(sub, c.arguments);
    });
    const children = spawned.filter((s): s is string => typeof s === 'string');
    const answers = (children.length > 0 ? agents.join(children) : []).values();
    const results: Array<string | Failed> = [];
    for (const [i, c] of calls.entries()) {
      const started = spawned[i];
      const own = local.get(c.name);
      if (started instanceof Failed) {
        results.push(started);
      } else if (started !== undefined) {
        const answer = answers.next().value as string | agents.AgentError;
        results.push(answer instanceof agents.AgentError ? new Failed(answer.describe()) : answer);
      } else if (own !== undefined) {
        results.push(await runAgentTool(own, c.arguments));
      } else {
        const result = hostResults.next().value as string | ToolError;
        results.push(result instanceof ToolError ? new Failed(result.message) : result);
      }
    }
    return results;
  }

  /** The loop's answer from a hand-off's result. */
  private handedOff(sub: SubAgent, result: string | Failed): T {
    if (result instanceof Failed) {
      throw new AgentError(`agent loop: hand-off to \`${sub.agent}\` ${result.error}`);
    }
    if (this.output === undefined) return result as T;
    try {
      return output.parse(this.output, result);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      throw new AgentError(
        `agent loop: hand-off to \`${sub.agent}\`: its answer does not match ${output.nameOf(this.output)}: ${e.message}`,
      );
    }
  }
}

/**
 * Starts the child run a sub-agent tool call asks for: its run id, or why
 * it could not be started.
 */
function spawnChild(sub: SubAgent, args: string): string | Failed {
  let value: unknown;
  try {
    value = JSON.parse(args);
  } catch (e) {
    return new Failed(`invalid arguments: not JSON (${(e as Error).message})`);
  }
  // The `input` the model gives, or the arguments as they are when they are
  // not the expected object.
  const given = typeof value === 'object' && value !== null ? (value as { input?: unknown }).input : undefined;
  const input = typeof given === 'string' ? given : args;
  try {
    return agents.spawn(sub.agent, input);
  } catch (e) {
    if (e instanceof agents.AgentError) return new Failed(e.describe());
    throw e;
  }
}

/** Runs an agent tool on the model's arguments: its result, or its one-line error. */
async function runAgentTool(own: Tool, args: string): Promise<string | Failed> {
  try {
    return await own.invoke(args);
  } catch (e) {
    if (e instanceof ToolError) return new Failed(e.message);
    // An agent tool's own failure goes to the model.
    if (e instanceof Error) return new Failed(`failed: ${e.name}: ${e.message}`);
    return new Failed(`failed: ${String(e)}`);
  }
}

function warnIfCut(step: number, reason: FinishReason): void {
  if (reason === 'length') log.warn(`step ${step}: the answer was cut at the token limit`);
}

function isTool(t: Tool | ToolSpec): t is Tool {
  return typeof (t as Partial<Tool>).invoke === 'function';
}

function toolName(t: AnyTool): string {
  return typeof t === 'string' ? t : t.name;
}
