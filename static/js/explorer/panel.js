// One explorer chart with its view: read from explorer/series, read again when its newest bucket rolls over,
// and fed pushed `metric` points in between. The explorer page has one; the dashboard one per pin.
import { getJson, withQuery } from "../dashboard/api.js";
import { ExplorerChart } from "./chart.js";
import { seriesParams } from "./view.js";

// A re-read waits this long past a bucket's end, so points stamped just before it are in the rollups.
const ROLLOVER_GRACE_MS = 2000;

export class ExplorerPanel {
  /** onLoad(payload) after each read; onError(error) when one fails. */
  constructor(card, { onLoad = () => {}, onError = () => {} } = {}) {
    this.card = card;
    this.chart = new ExplorerChart(card);
    this.onLoad = onLoad;
    this.onError = onError;
    this.view = null;
    this.generation = 0;
    this.timer = null;
  }

  show(view) {
    this.view = view;
    return this.load();
  }

  async load() {
    const mine = ++this.generation;
    clearTimeout(this.timer);
    if (!this.view?.name) return;
    try {
      const payload = await getJson(withQuery("explorer/series", seriesParams(this.view)));
      if (mine !== this.generation) return;
      this.chart.load(payload, this.view);
      this.card.dataset.bucket = payload.bucket;
      const bucketMs = this.chart.bucketMs;
      this.timer = setTimeout(() => this.load(), bucketMs - (Date.now() % bucketMs) + ROLLOVER_GRACE_MS);
      this.onLoad(payload);
    } catch (error) {
      if (mine === this.generation) this.onError(error);
    }
  }

  /** Fold pushed `metric` items in; how many belonged to this view. */
  fold(items) {
    let folded = 0;
    for (const item of items) folded += this.chart.fold(item) ? 1 : 0;
    this.card.dataset.folded = String(Number(this.card.dataset.folded ?? 0) + folded);
    return folded;
  }

  stop() {
    this.generation += 1;
    clearTimeout(this.timer);
  }
}
