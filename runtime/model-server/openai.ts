/**
 * The OpenAI request and response shapes the simulated server speaks (the subset vLLM's
 * OpenAI-compatible server answers that gateways and benchmarks use).
 */
import { randomUUID } from 'node:crypto';

/** A client error, answered with 4xx and OpenAI's error shape. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface GenerationRequest {
  promptTokens: number;
  maxTokens: number;
}

const DEFAULT_MAX_TOKENS = 16;
const MAX_MAX_TOKENS = 4096;

export function parseCompletionRequest(body: unknown, servedModel: string): GenerationRequest {
  const request = requestObject(body, servedModel);
  const prompt = request.prompt;
  let text: string;
  if (typeof prompt === 'string') text = prompt;
  else if (Array.isArray(prompt) && prompt.every((p) => typeof p === 'string'))
    text = prompt.join('\n');
  else throw new RequestError(400, '"prompt" must be a string or an array of strings');
  return { promptTokens: countTokens(text), maxTokens: maxTokens(request.max_tokens) };
}

export function parseChatRequest(body: unknown, servedModel: string): GenerationRequest {
  const request = requestObject(body, servedModel);
  const messages = request.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new RequestError(400, '"messages" must be a non-empty array');
  }
  const text = messages
    .map((m: unknown, i) => {
      const content = (m as { content?: unknown } | null)?.content;
      if (typeof content !== 'string')
        throw new RequestError(400, `messages[${i}].content must be a string`);
      return content;
    })
    .join('\n');
  return {
    promptTokens: countTokens(text),
    maxTokens: maxTokens(request.max_completion_tokens ?? request.max_tokens),
  };
}

export function completionResponse(model: string, request: GenerationRequest): object {
  return {
    id: `cmpl-${randomUUID()}`,
    object: 'text_completion',
    created: nowSeconds(),
    model,
    choices: [
      { index: 0, text: generatedText(request.maxTokens), logprobs: null, finish_reason: 'length' },
    ],
    usage: usage(request),
  };
}

export function chatResponse(model: string, request: GenerationRequest): object {
  return {
    id: `chatcmpl-${randomUUID()}`,
    object: 'chat.completion',
    created: nowSeconds(),
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: generatedText(request.maxTokens) },
        finish_reason: 'length',
      },
    ],
    usage: usage(request),
  };
}

export function modelsResponse(model: string): object {
  return {
    object: 'list',
    data: [{ id: model, object: 'model', created: nowSeconds(), owned_by: 'local' }],
  };
}

export function errorBody(message: string, type: string): object {
  return { error: { message, type } };
}

function requestObject(body: unknown, servedModel: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new RequestError(400, 'the request body must be a JSON object');
  }
  const request = body as Record<string, unknown>;
  if (request.model !== undefined && request.model !== servedModel) {
    throw new RequestError(
      404,
      `The model \`${String(request.model)}\` does not exist; this server serves ${servedModel}.`,
    );
  }
  if (request.stream === true) {
    throw new RequestError(400, 'stream=true is not supported by the simulated model server');
  }
  return request;
}

function maxTokens(raw: unknown): number {
  if (raw === undefined || raw === null) return DEFAULT_MAX_TOKENS;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > MAX_MAX_TOKENS) {
    throw new RequestError(400, `max_tokens must be an integer between 1 and ${MAX_MAX_TOKENS}`);
  }
  return raw;
}

/** Roughly four characters per token, like common BPE vocabularies on English text. */
function countTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

const WORDS = ['the', 'model', 'is', 'simulated', 'and', 'answers', 'with', 'placeholder', 'text'];

/** One word per token, deterministic so tests can compare outputs. */
function generatedText(tokens: number): string {
  return Array.from({ length: tokens }, (_, i) => ` ${WORDS[i % WORDS.length]}`).join('');
}

function usage(request: GenerationRequest): object {
  return {
    prompt_tokens: request.promptTokens,
    completion_tokens: request.maxTokens,
    total_tokens: request.promptTokens + request.maxTokens,
  };
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
