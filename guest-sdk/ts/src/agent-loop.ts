/**
 * The ready-made tool-calling loop most agents need.
 *
 * Ask the model; if it asks for tools, run them, hand back their results and
 * ask again; stop at the first answer without tool calls. Every step is a
 * sequence of journaled host calls, so an interrupted loop resumes exactly
 * where it stopped.
 *
 * @module
 */

import { AgentError } from './agent.js';
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
 */
export class AgentLoop<T = string> {
  readonly systemPrompt: string;
  readonly model: string | undefined;
  readonly tools: AnyTool[] | undefined;
  readonly maxSteps: number;
  readonly output: Schema<T> | undefined;
  readonly outputRetries: number;

  constructor(systemPrompt: string, options: AgentLoopOptions<T> = {}) {
    this.systemPrompt = systemPrompt;
    this.model = options.model;
    this.tools = options.tools === undefined ? undefined : [...options.tools];
    this.maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
    this.output = options.output;
    this.outputRetries = options.outputRetries ?? DEFAULT_OUTPUT_RETRIES;
    const names = (this.tools ?? []).map(toolName);
    const duplicates = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))].sort();
    if (duplicates.length > 0) {
      throw new TypeError(`AgentLoop: tools offered twice: ${duplicates.join(', ')}`);
    }
  }

  /**
   * Runs the loop on the user message `input` and returns the model's first
   * answer without tool calls: its text, or with `output`, the checked value.
   *
   * A failing tool does not stop the loop: the model gets `"error: ..."` as
   * that tool's result and may adapt. Logs one `info` line per step.
   *
   * @throws {AgentError} when the model cannot be reached, when the step
   * limit is reached while the model still asks for tools, or when the
   * structured answer is still invalid after `outputRetries` retries.
   */
  async run(input: string): Promise<T> {
    const [specs, local] = this.offered();
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
      request.messages.push(message);
      for (const call of message.toolCalls) {
        const content = await this.runTool(step, call, local);
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

  /** The content of the tool message answering `call`. */
  private async runTool(step: number, call: ToolCall, local: Map<string, Tool>): Promise<string> {
    let error: string;
    try {
      const own = local.get(call.name);
      return own !== undefined ? await own.invoke(call.arguments) : tools.callJson(call.name, call.arguments);
    } catch (e) {
      if (e instanceof ToolError) {
        error = e.message;
      } else if (e instanceof Error) {
        error = `failed: ${e.name}: ${e.message}`; // an agent tool's own failure goes to the model
      } else {
        error = `failed: ${String(e)}`;
      }
    }
    log.warn(`step ${step}: tool ${call.name} ${error}`);
    return `error: ${error}`;
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
