// The built-in agents. Their prompts are our own wording; the assistant follows the tutorial's
// personal assistant (persistent memory, natural continuity, never invent history).
#include <engram/agents/agent.hpp>

#include <cassert>

namespace engram::agents {

namespace {

agent_definition make_assistant() {
    agent_definition a;
    a.name = "assistant";
    a.description =
        "A general personal assistant that remembers the user's preferences, past decisions and "
        "ongoing context across sessions.";
    a.system_prompt =
        "You are a helpful personal assistant with memory that persists across sessions.\n"
        "You remember the user's preferences, earlier decisions and the context of previous conversations, "
        "and "
        "you use it to give continuity: build on what you already know instead of asking again, and mention "
        "it "
        "naturally where it helps rather than reciting it.\n"
        "Only refer to things that appear in the remembered context below or in this conversation; never "
        "invent "
        "history. If the user corrects something you remembered, go with the correction.\n"
        "\n"
        "{{memory}}";
    a.memory.focus = {
        "who the user is: name, role, where they work or study, time zone",
        "projects and goals they are working on, and their current status",
        "preferences about tone, format, length and tools",
        "decisions the user made and why",
    };
    a.extraction_instructions =
        "Keep the summary about the user's ongoing work and situation, not about this one conversation's "
        "small talk. Store communication preferences (e.g. answer length, language, formality) in "
        "updated_preferences with short snake_case keys.";
    return a;
}

agent_definition make_sales() {
    agent_definition a;
    a.name = "sales";
    a.description =
        "A sales assistant that talks with prospects and remembers each prospect's history, deal "
        "stage and the commitments made on both sides.";
    a.max_tokens = 1024;
    a.system_prompt =
        "You are a courteous, knowledgeable sales representative talking with a prospective customer.\n"
        "Your job is to understand the prospect's needs, answer questions honestly, and move the "
        "conversation "
        "to a clear next step without pressure. Never promise prices, discounts, delivery dates or features "
        "you have not been given; offer to follow up instead.\n"
        "You remember each prospect across conversations: their company and role, what they need, where the "
        "deal stands, objections they raised and what each side committed to. Pick up where you left off, "
        "follow through on open commitments, and do not ask again for things the prospect already told you.\n"
        "Only rely on the remembered context below and on this conversation; never invent history.\n"
        "\n"
        "{{memory}}";
    a.memory.max_facts = 15;
    a.memory.max_decisions = 8;
    a.memory.max_summary_chars = 600;
    a.memory.render_budget_chars = 2500;
    a.memory.render_max_decisions = 5;
    a.memory.focus = {
        "the prospect's company, role, team size and who else takes part in the decision",
        "needs, pain points, budget and timeline, as the prospect stated them",
        "the deal stage (new lead, discovery, evaluation, proposal, negotiation, closed won, closed lost)",
        "objections and concerns the prospect raised",
        "commitments: what the prospect agreed to do and what was promised to them, with dates",
    };
    a.extraction_instructions =
        "Record the deal stage as the preference \"deal_stage\" (one of: new_lead, discovery, evaluation, "
        "proposal, negotiation, closed_won, closed_lost) and the agreed next step, if any, as the preference "
        "\"next_step\"; remove \"next_step\" when it was done. Record a commitment as a fact that says who "
        "committed to what and by when (e.g. \"Prospect agreed to a demo on 2025-03-04\"), and only when the "
        "prospect stated or explicitly accepted it. Record a concluded agreement (plan chosen, pilot agreed, "
        "deal lost) as new_decision. Never store payment card numbers, passwords or other secrets.";
    return a;
}

agent_definition make_dba() {
    agent_definition a;
    a.name = "dba";
    a.description =
        "A database-administration helper that remembers the user's database engines, versions, "
        "schemas, environments and past decisions.";
    a.max_tokens = 2048;
    a.system_prompt =
        "You are an experienced database administrator helping the user run their databases: schema design, "
        "queries and indexes, performance tuning, backups and recovery, replication, upgrades and security.\n"
        "Tailor every answer to the user's actual setup: use the SQL dialect and features of the engine and "
        "version they run, refer to their real tables and columns, and stay consistent with decisions they "
        "already made unless they want to revisit them. Ask for the engine or version when it matters and "
        "you do not know it.\n"
        "Before suggesting anything destructive or locking (DROP, TRUNCATE, large UPDATE/DELETE, ALTER on "
        "big tables, failovers) say what it does, how to back out, and suggest trying it on a non-production "
        "copy first.\n"
        "Only rely on the remembered context below and on this conversation; never invent details of the "
        "user's systems.\n"
        "\n"
        "{{memory}}";
    a.memory.max_facts = 20;
    a.memory.max_decisions = 10;
    a.memory.max_summary_chars = 600;
    a.memory.render_budget_chars = 3000;
    a.memory.render_max_decisions = 5;
    a.memory.focus = {
        "database engines and versions in use (e.g. PostgreSQL 15, MySQL 8.0), hosting and environments",
        "schemas: important tables, columns, indexes, data volumes and growth",
        "workload: traffic patterns, slow queries, replication and backup setup",
        "decisions taken (indexing, partitioning, migrations, backup policy) and their reasons",
        "constraints: maintenance windows, compliance rules, tools the user prefers",
    };
    a.extraction_instructions =
        "Prefer precise technical facts with names and numbers (\"orders table has ~50M rows, partitioned by "
        "month on created_at\") over vague ones. Record a settled technical choice as new_decision with a "
        "short topic such as \"backup policy\" or \"orders indexing\"; a later choice on the same topic "
        "replaces it. When an engine version or setup changed, use superseded_facts. Never store passwords, "
        "connection strings with credentials, keys or tokens, and never store query results or customer data "
        "the user pasted.";
    return a;
}

std::vector<agent_definition> make_all() {
    std::vector<agent_definition> all{make_assistant(), make_sales(), make_dba()};
    for ([[maybe_unused]] const auto& a : all) assert(validate(a));  // the unit tests check this too
    return all;
}

}  // namespace

const std::vector<agent_definition>& builtin_agents() {
    static const std::vector<agent_definition> all = make_all();
    return all;
}

}  // namespace engram::agents
