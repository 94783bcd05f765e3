// Live top-10 panel. Python replaces `rows` in one prop update per change, so each
// open page gets one small message per new top-10 score.
export default {
  props: { rows: Array, rankText: String },
  template: `
  <section class="db-board-panel" aria-labelledby="db-top-title">
    <h2 id="db-top-title">Top 10</h2>
    <ol class="db-rows" aria-live="polite" aria-relevant="all">
      <li v-for="r in rows" :key="r.key" :class="{ 'db-mine': r.mine }">
        <span class="db-rank">{{ r.rank }}</span>
        <span class="db-player">{{ r.player }}</span>
        <span class="db-score">{{ r.score }}</span>
      </li>
      <li v-if="!rows || rows.length === 0" class="db-empty">No scores yet: be the first!</li>
    </ol>
    <p class="db-you" v-if="rankText">{{ rankText }}</p>
  </section>`,
};
