// Adaptive Cards, drawn by Microsoft's own renderer (the `adaptivecards` npm package), with Teams'
// additions the host supplies: Markdown in TextBlocks (markdown-it, as Microsoft's docs suggest),
// <at>mentions</at>, and the people picker (Input.ChoiceSet with `choices.data` of
// graph.microsoft.com/users), offered here as the sample workspace's people.
"use strict";

const TeamsCards = (() => {
  const available = () => !window.rendererMissing && typeof window.AdaptiveCards !== "undefined";

  const hostConfig = {
    fontFamily: "'Segoe UI', system-ui, -apple-system, sans-serif",
    spacing: {small: 4, default: 8, medium: 16, large: 20, extraLarge: 24, padding: 12},
    separator: {lineThickness: 1, lineColor: "#E1DFDD"},
    fontSizes: {small: 12, default: 14, medium: 16, large: 18, extraLarge: 22},
    fontWeights: {lighter: 300, default: 400, bolder: 600},
    containerStyles: {
      default: {backgroundColor: "#FFFFFF", foregroundColors: {
        default: {default: "#242424", subtle: "#616161"}, accent: {default: "#5B5FC7", subtle: "#6264A7"},
        attention: {default: "#C4314B", subtle: "#C4314B"}, good: {default: "#237B4B", subtle: "#237B4B"},
        warning: {default: "#835C00", subtle: "#835C00"}}},
      emphasis: {backgroundColor: "#F5F5F5", foregroundColors: {
        default: {default: "#242424", subtle: "#616161"}, attention: {default: "#C4314B", subtle: "#C4314B"}}},
    },
    actions: {maxActions: 10, buttonSpacing: 8, showCard: {actionMode: "inline"}, actionsOrientation: "horizontal",
      actionAlignment: "left"},
    inputs: {label: {requiredInputs: {suffix: " *", suffixColor: "attention"}, optionalInputs: {}},
      errorMessage: {size: "small", color: "attention"}},
  };

  let markdown = null;

  function setUp() {
    if (!available() || markdown !== null) return;
    markdown = window.markdownit ? window.markdownit({html: false, linkify: false, breaks: true}) : false;
    AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {
      if (!markdown) return;
      // Teams turns <at>Name</at> into a mention; markdown-it (html off) would show the tags. The
      // placeholder uses private-use characters: markdown-it replaces NUL, as CommonMark says.
      const names = [];
      const src = text.replace(/<at>(.*?)<\/at>/g, (m, name) => { names.push(name); return `\uE000${names.length - 1}\uE001`; });
      let html = markdown.render(src).trim();
      html = html.replace(/\uE000(\d+)\uE001/g, (m, i) => `<span class="mention">${escapeHtml(names[Number(i)])}</span>`);
      result.outputHtml = html.replace(/^<p>([\s\S]*)<\/p>$/, "$1");
      result.didProcess = true;
    };
  }

  function escapeHtml(s) {
    return s.replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
  }

  // The host's part of the people picker: Teams searches the organisation; here, the sample's people.
  function withPeople(card, people) {
    const walk = (node) => {
      if (Array.isArray(node)) { node.forEach(walk); return; }
      if (!node || typeof node !== "object") return;
      if (node.type === "Input.ChoiceSet" && node["choices.data"]) {
        delete node["choices.data"];
        node.choices = people.map((p) => ({title: p.name, value: p.aad}));
        node.style = "compact";
        node.placeholder = node.placeholder || "Search people";
      }
      for (const v of Object.values(node)) walk(v);
    };
    const copy = JSON.parse(JSON.stringify(card));
    walk(copy);
    return copy;
  }

  // Render `card`; `onSubmit(action, inputs)` gets each Action.Submit with the card's input values
  // (the renderer has already checked required inputs and shown their errorMessage).
  function render(card, {people, onSubmit}) {
    if (!available()) {
      const n = document.createElement("div");
      n.className = "renderer-missing";
      n.textContent = "The Adaptive Cards renderer is not installed: run `make sandbox` (it installs Microsoft's " +
        "adaptivecards package from npm).";
      return n;
    }
    setUp();
    const ac = new AdaptiveCards.AdaptiveCard();
    ac.hostConfig = new AdaptiveCards.HostConfig(hostConfig);
    ac.onExecuteAction = (action) => {
      const inputs = {};
      for (const input of ac.getAllInputs()) {
        if (input.id && input.value !== undefined && input.value !== null && input.value !== "") inputs[input.id] = input.value;
      }
      onSubmit(action, inputs);
    };
    ac.parse(withPeople(card, people || []));
    const node = ac.render();
    node.classList.add("teams-card");
    return node;
  }

  return {render, available};
})();
