// Live top-10 panel. Python pushes the shared `rows` (at most one message per interval
// per page); `mine` holds this page's own runs ("player|score|createdAt"). Ranks are
// competition ranks, as POST /score reports them: tied scores share one, shown as "=3".
export default {
  props: { rows: Array, mine: Array, rankText: String, bestText: String },
  methods: {
    isMine(r) {
      return (this.mine || []).includes(`${r.player}|${r.score}|${r.createdAt}`);
    },
  },
  template: `
  <section class="db-board-panel" aria-labelledby="db-top-title">
    <h2 id="db-top-title">Top 10</h2>
    <ol class="db-rows" aria-live="polite" aria-relevant="all">
      <li v-for="r in rows" :key="r.key" :class="{ 'db-mine': isMine(r) }">
        <span class="db-rank" :title="r.tied ? 'tied' : null">{{ r.tied ? "=" : "" }}{{ r.rank }}</span>
        <span class="db-player">{{ r.player }}</span>
        <span class="db-score">{{ r.score }}</span>
      </li>
      <li v-if="!rows || rows.length === 0" class="db-empty">No scores yet: be the first!</li>
    </ol>
    <p class="db-you" v-if="rankText">{{ rankText }}</p>
    <p class="db-best-line" v-if="bestText">{{ bestText }}</p>
  </section>`,
};
