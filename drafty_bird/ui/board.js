// Live top-10 panel. `top` ({v, rows}, as JSON) is the board as of this page's build; later
// boards arrive as one shared socket.io event, "db_top" (ui/board.py LiveBoards: one
// packet for every open page, at most one per interval). The higher version wins, in
// whatever order the two arrive. `mine` holds this page's own runs
// ("player|score|createdAt"). Ranks are competition ranks, as POST /score reports them:
// tied scores share one, shown as "=3".
const TOP_EVENT = "db_top";

export default {
  // `top` is a JSON string: NiceGUI would wrap an object prop in observable copies per page.
  props: { top: String, mine: Array, rankText: String, bestText: String },
  data() {
    return { pushed: null };
  },
  computed: {
    built() {
      try {
        const top = JSON.parse(this.top);
        return top && Array.isArray(top.rows) ? top : { v: -1, rows: [] };
      } catch {
        return { v: -1, rows: [] };
      }
    },
    rows() {
      return this.pushed && this.pushed.v > this.built.v ? this.pushed.rows : this.built.rows;
    },
  },
  mounted() {
    this.onTop = (top) => {
      if (top && Array.isArray(top.rows) && (!this.pushed || top.v > this.pushed.v)) this.pushed = top;
    };
    // NiceGUI creates window.socket in its root component's mounted(), after this one's.
    const listen = () => {
      if (window.socket) window.socket.on(TOP_EVENT, this.onTop);
      else this.listenTimer = setTimeout(listen, 10);
    };
    listen();
  },
  unmounted() {
    clearTimeout(this.listenTimer);
    window.socket?.off(TOP_EVENT, this.onTop);
  },
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
      <li v-if="rows.length === 0" class="db-empty">No scores yet: be the first!</li>
    </ol>
    <p class="db-you" v-if="rankText">{{ rankText }}</p>
    <p class="db-best-line" v-if="bestText">{{ bestText }}</p>
  </section>`,
};
