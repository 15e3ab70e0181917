// The dashboard's words in English and Japanese: the language the system or browser prefers,
// the two catalogues, `t(key, params)`, the page's static text, and errors by their machine code.

/** The languages the dashboard speaks; the first is the fallback. */
export const LANGUAGES = ['en', 'ja'];

/**
 * The first language in `preferred` (BCP 47 tags, most wanted first, as `navigator.languages`
 * or a POSIX locale such as `ja_JP.UTF-8`) that the dashboard speaks; English otherwise.
 */
export function pickLanguage(preferred) {
  for (const tag of preferred ?? []) {
    const primary = String(tag ?? '').toLowerCase().split(/[-_.@]/)[0];
    if (LANGUAGES.includes(primary)) return primary;
  }
  return LANGUAGES[0];
}

const nav = globalThis.navigator;
let current = pickLanguage(nav?.languages?.length ? nav.languages : [nav?.language]);

/** The language in use: 'en' or 'ja'. */
export function language() {
  return current;
}

/** Switches the language (tests; the page keeps the one it was opened in). */
export function setLanguage(lang) {
  current = pickLanguage([lang]);
}

/**
 * The text for `key` in the language in use, with `{name}` placeholders filled from `params`.
 * A key missing from both catalogues is shown as itself, so a slip is visible, never blank.
 */
export function t(key, params = {}) {
  const text = CATALOGUES[current][key] ?? CATALOGUES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/**
 * The text for `key`, or `fallback` as it is when the catalogues have none: for names sent by
 * the engine (metrics, sources, port states) that the catalogues may not know.
 */
export function textOr(key, fallback) {
  return key in CATALOGUES.en ? t(key) : fallback;
}

/** The placeholders a catalogue text uses, sorted: `['n', 'path']`. */
export function placeholders(text) {
  return [...new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))].sort();
}

/** Error kinds whose own message is worth showing after the translation: it names the thing. */
const KEEP_DETAIL = new Set([
  'config', 'engine', 'store', 'io', 'internal', 'invalid', 'invalid_settings', 'invalid_label', 'store_unavailable',
  'demo_unavailable',
]);

/**
 * What to show for an error from the transport (`{kind, message}`): in English the engine's
 * own message; in Japanese the translation of its machine code, followed by the engine's
 * message where that names what failed (a path, a port).
 */
export function errorText(e) {
  const message = String(e?.message ?? e ?? '');
  if (current === 'en') return message;
  const key = `error.${e?.kind}`;
  if (!(key in CATALOGUES[current])) return t('error.other', { message });
  return KEEP_DETAIL.has(e.kind) && message ? t('error.detail', { error: t(key), detail: message }) : t(key);
}

/**
 * Puts the page's static text in the language in use: `data-i18n="key"` sets an element's text,
 * `data-i18n-attr="aria-label:key title:key"` its attributes, and `<html lang>` follows.
 */
export function localizePage(doc) {
  doc.documentElement.lang = current;
  for (const el of doc.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of doc.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(/\s+/).filter(Boolean)) {
      const [attr, key] = pair.split(':');
      el.setAttribute(attr, t(key));
    }
  }
}

// Texts that continue an element's text keep their spaces: Japanese puts none between them.
export const CATALOGUES = {
  en: {
    'conn.connecting': 'connecting…',
    'conn.live': 'live',
    'conn.reconnecting': 'reconnecting…',
    'conn.offline': 'offline',
    'conn.needsToken': 'a token is needed',
    'settings.open': 'Settings',
    'settings.title': 'Settings',
    'settings.close': 'Close settings',
    'auth.label': 'This Clima needs its token to show readings. Paste it here (Settings in the desktop app shows it):',
    'auth.submit': 'Show readings',
    'empty.title': 'No sensors yet',
    'empty.intro': 'Clima shows every sensor that sends it a reading. To get the first one in:',
    'empty.plug.title': 'Plug in a board',
    'empty.plug.before': ' by USB that prints its readings over serial (JSON, ',
    'empty.plug.after': ', the Arduino Serial Plotter format or CSV lines). Clima finds it within a second.',
    'empty.send.title': 'Or send a reading',
    'empty.send.text': ' from any computer on your network; paste this into a terminal:',
    'empty.more.before': 'More ways (ESPHome, an ESP32 sketch, Shelly) are in ',
    'empty.more.settings': 'Settings',
    'empty.more.after': '.',
    'demo.start': 'Start a demo board',
    'demo.starting': 'Starting the demo board…',
    'demo.running': 'Demo board running: readings arrive in a moment',
    'demo.failed': 'Demo unavailable: {message}',
    'cards.label': 'Sensors',
    'charts.ranges': 'Time range',
    'display.title': 'Display',
    'display.temperature': 'Temperature',
    'display.interval': 'Live update interval',
    'ingest.title': 'Send readings to Clima',
    'ports.title': 'Serial ports',
    'metric.temperature': 'Temperature',
    'metric.humidity': 'Humidity',
    'metric.pressure': 'Pressure',
    'metric.co2': 'CO₂',
    'metric.dew_point': 'Dew point',
    'metric.absolute_humidity': 'Absolute humidity',
    'source.http': 'http',
    'source.line-protocol': 'line-protocol',
    'source.push': 'push',
    'source.serial': 'serial',
    'source.import': 'import',
    'age.never': 'never',
    'age.justNow': 'just now',
    'trend.up': 'rising',
    'trend.down': 'falling',
    'trend.flat': 'steady',
    'card.stale': 'No reading for {age}',
    'card.staleUsually': 'No reading for {age} (usually every {interval})',
    'card.reports': 'Reports about every {interval}',
    'card.derivedMark': 'derived',
    'card.derived': 'Derived by Clima from temperature and humidity; the device does not send it',
    'clock.ahead': 'Clock {by} ahead: measured {measured}, received {received}',
    'clock.behind': 'Clock {by} behind: measured {measured}, received {received}',
    'clock.backlog': 'Backlog from {measured}, received {received}',
    'store.problem': 'The database cannot be written: {why}. Readings sent now are refused (503) and devices should resend them.',
    'store.noReason': 'no reason given',
    'chart.label': '{metric} chart',
    'chart.unavailable': 'Chart unavailable: {message}',
    'chart.noReadings': 'no readings',
    'chart.readings': '{n} readings',
    'export.label': 'Export',
    'export.group': 'Export {metric}',
    'export.csv': 'Every reading of this range, one row each',
    'export.png': 'This range as a chart image',
    'export.svg': 'This range as a scalable chart',
    'export.dialog': 'Export {sensor} {metric} as {format}',
    'export.busy': 'Exporting…',
    'export.savedRows': 'Saved {n} readings to {path}',
    'export.saved': 'Saved {path} ({size})',
    'export.downloaded': 'Downloaded {path} ({size})',
    'export.failed': 'Export failed: {message}',
    'facts.address': 'Address',
    'facts.token': 'Token',
    'facts.noToken': 'none (anyone who can reach this address may send)',
    'facts.browser': 'Watch in a browser',
    'facts.database': 'Database',
    'copy.button': 'Copy',
    'copy.done': 'Copied',
    'copy.manual': 'Press Ctrl-C',
    'token.fixed': 'Given with --token: change it there.',
    'token.regenerate': 'Regenerate token',
    'token.question': 'Devices still sending the current token will be refused (401) until they get the new one.',
    'token.cancel': 'Cancel',
    'token.confirm': 'Regenerate now',
    'token.busy': 'Regenerating…',
    'token.failed': 'The token was not changed: {message}',
    'token.done': 'New token in force: the old one is refused. Give it to every device that sends readings (the examples below use it).',
    'board.title': 'Board settings',
    'board.unit': 'Temperatures printed without a unit are in ',
    'board.unitAsBoard': 'as the board says (hold back unit-less values that are not room °C)',
    'board.ignore': ' ignore {series}',
    'board.noSeries': 'No series read from this board yet.',
    'ports.none': 'No serial ports found. Plug in a board by USB; it shows here within a second.',
    'ports.unsupported': 'This Clima does not read serial ports.',
    'port.connect': 'Connect',
    'port.release': 'Release',
    'port.status.connected': 'connected',
    'port.status.waiting': 'waiting',
    'port.status.released': 'released',
    'port.status.error': 'error',
    'port.serial': 'serial {serial}',
    'port.baud': '{baud} baud',
    'port.lines': '{parsed} lines read, {unparsed} not understood',
    'port.overlong': ', {n} too long',
    'port.released': 'Released: flash your board now, then press Connect.',
    'port.toFix': 'To fix: ',
    'forward.title': 'Forward to other databases',
    'forward.none': 'No forwarders. Add an InfluxDB, VictoriaMetrics or MQTT address to send every reading there too.',
    'forward.unavailable': 'This Clima cannot list its forwarders.',
    'forward.placeholder': 'http://HOST:8086/write?db=clima or mqtt://HOST:1883/clima',
    'forward.add': 'Add',
    'forward.remove': 'Remove',
    'forward.fromCommandLine': 'given with --forward',
    'forward.state.connected': 'connected',
    'forward.state.retrying': 'retrying',
    'forward.state.starting': 'starting',
    'forward.upToDate': 'up to date',
    'forward.behind': '{n} readings behind ({seconds} s)',
    'forward.lastError': 'last error {at}: {message}',
    'forward.lost': '{n} readings removed by retention before they could be sent',
    'background.title': 'Background',
    'background.keepInTray': 'Keep running in the tray when the window is closed',
    'background.noTray': 'No tray in this session: closing the window quits Clima.',
    'background.autostart': 'Start Clima when I log in',
    'about.title': 'About Clima',
    'about.version': 'Version',
    'port.unparsed': 'Lines not understood ({n})',
    'example.esphome': "Add to your device's YAML; room_temp and room_hum are your sensors' ids.",
    'example.readSensor': 'read your sensor here',
    'example.shelly': 'Shelly H&T: Settings → Actions → "Sensor reports" (Gen1: "Report sensor values"): paste this URL.\nThe Shelly adds temp= and hum= itself.',
    'error.other': '{message}',
    'error.detail': '{error}: {detail}',
    'error.offline': 'Clima does not answer',
    'error.unauthorized': 'The token is missing or wrong: paste the current one.',
    'error.rate_limited': 'Too many requests: wait a moment and try again.',
    'error.store_unavailable': 'The database cannot be written',
    'error.store': 'The database failed',
    'error.config': 'Clima could not start with these settings',
    'error.engine': 'Clima could not start',
    'error.stopped': 'Clima is stopping.',
    'error.io': 'The file could not be written',
    'error.internal': 'Something failed inside Clima',
    'error.invalid': 'Clima refused the request',
    'error.not_found': 'Not found.',
    'error.unknown_port': 'This port is gone.',
    'error.unknown_sensor': 'This sensor is gone.',
    'error.unknown_series': 'No readings of this sensor and metric.',
    'error.invalid_settings': 'These board settings were refused',
    'error.invalid_label': 'This name was refused',
    'error.demo_unavailable': 'The demo board cannot start',
    'error.unavailable': 'Not available in this Clima.',
    'error.token_fixed': 'The token was given with --token: change it there.',
    'error.foreign_origin': 'Clima refused a request from another site.',
    'error.host_not_allowed': 'Clima does not answer to this address: add it with --allow-host.',
    'error.ipc': 'The app did not answer.',
  },
  ja: {
    'conn.connecting': '接続中…',
    'conn.live': 'ライブ',
    'conn.reconnecting': '再接続中…',
    'conn.offline': 'オフライン',
    'conn.needsToken': 'トークンが必要です',
    'settings.open': '設定',
    'settings.title': '設定',
    'settings.close': '設定を閉じる',
    'auth.label': 'この Clima の測定値を見るにはトークンが必要です。ここに貼り付けてください（デスクトップアプリの「設定」に表示されています）：',
    'auth.submit': '測定値を表示',
    'empty.title': 'センサーはまだありません',
    'empty.intro': 'Clima は測定値を送ってきたセンサーをすべて表示します。最初の一台をつなぐには：',
    'empty.plug.title': 'ボードを USB で接続します。',
    'empty.plug.before': '測定値をシリアルに出力するボード（JSON、',
    'empty.plug.after': '、Arduino のシリアルプロッタ形式、CSV 行）なら、Clima が 1 秒以内に見つけます。',
    'empty.send.title': 'または測定値を送ります。',
    'empty.send.text': 'ネットワーク上のどのコンピューターからでも、次をターミナルに貼り付けてください：',
    'empty.more.before': 'ほかの方法（ESPHome、ESP32 のスケッチ、Shelly）は',
    'empty.more.settings': '設定',
    'empty.more.after': 'にあります。',
    'demo.start': 'デモボードを起動',
    'demo.starting': 'デモボードを起動しています…',
    'demo.running': 'デモボードが動いています。まもなく測定値が届きます',
    'demo.failed': 'デモを使えません：{message}',
    'cards.label': 'センサー',
    'charts.ranges': '期間',
    'display.title': '表示',
    'display.temperature': '温度',
    'display.interval': 'ライブ更新の間隔',
    'ingest.title': 'Clima に測定値を送る',
    'ports.title': 'シリアルポート',
    'metric.temperature': '温度',
    'metric.humidity': '湿度',
    'metric.pressure': '気圧',
    'metric.co2': 'CO₂',
    'metric.dew_point': '露点',
    'metric.absolute_humidity': '絶対湿度',
    'source.http': 'HTTP',
    'source.line-protocol': 'ラインプロトコル',
    'source.push': 'プッシュ',
    'source.serial': 'シリアル',
    'source.import': 'インポート',
    'age.never': 'なし',
    'age.justNow': 'たった今',
    'trend.up': '上昇中',
    'trend.down': '下降中',
    'trend.flat': '横ばい',
    'card.stale': '{age}、測定値がありません',
    'card.staleUsually': '{age}、測定値がありません（通常は {interval} ごと）',
    'card.reports': '約 {interval} ごとに送信',
    'card.derivedMark': '算出',
    'card.derived': '温度と湿度から Clima が算出した値です（デバイスは送信していません）',
    'clock.ahead': '時計が {by} 進んでいます：測定 {measured}、受信 {received}',
    'clock.behind': '時計が {by} 遅れています：測定 {measured}、受信 {received}',
    'clock.backlog': '{measured} の溜まっていた測定値、受信 {received}',
    'store.problem': 'データベースに書き込めません：{why}。いま送られた測定値は拒否され（503）、デバイスは再送する必要があります。',
    'store.noReason': '理由は不明です',
    'chart.label': '{metric}のグラフ',
    'chart.unavailable': 'グラフを表示できません：{message}',
    'chart.noReadings': '測定値なし',
    'chart.readings': '{n} 件の測定値',
    'export.label': '書き出し',
    'export.group': '{metric}を書き出す',
    'export.csv': 'この期間の全測定値（1 行に 1 件）',
    'export.png': 'この期間のグラフ画像',
    'export.svg': 'この期間の拡大できるグラフ',
    'export.dialog': '{sensor} の {metric} を {format} で書き出す',
    'export.busy': '書き出し中…',
    'export.savedRows': '{n} 件の測定値を {path} に保存しました',
    'export.saved': '{path} を保存しました（{size}）',
    'export.downloaded': '{path} をダウンロードしました（{size}）',
    'export.failed': '書き出しに失敗しました：{message}',
    'facts.address': 'アドレス',
    'facts.token': 'トークン',
    'facts.noToken': 'なし（このアドレスに届く人は誰でも送信できます）',
    'facts.browser': 'ブラウザーで見る',
    'facts.database': 'データベース',
    'copy.button': 'コピー',
    'copy.done': 'コピーしました',
    'copy.manual': 'Ctrl-C を押してください',
    'token.fixed': '--token で指定されています。変更はそちらで行ってください。',
    'token.regenerate': 'トークンを再生成',
    'token.question': '今のトークンを送り続けるデバイスは、新しいトークンを受け取るまで拒否されます（401）。',
    'token.cancel': 'キャンセル',
    'token.confirm': '今すぐ再生成',
    'token.busy': '再生成しています…',
    'token.failed': 'トークンは変更されませんでした：{message}',
    'token.done': '新しいトークンが有効になり、古いトークンは拒否されます。測定値を送るすべてのデバイスに設定してください（下の例は新しいトークンを使っています）。',
    'board.title': 'ボードの設定',
    'board.unit': '単位なしで出力された温度の単位：',
    'board.unitAsBoard': 'ボードの出力どおり（単位のない値で室温の °C でないものは保留）',
    'board.ignore': ' {series} を無視',
    'board.noSeries': 'このボードからはまだ系列を読み取っていません。',
    'ports.none': 'シリアルポートが見つかりません。ボードを USB で接続すると、1 秒以内にここに表示されます。',
    'ports.unsupported': 'この Clima はシリアルポートを読みません。',
    'port.connect': '接続',
    'port.release': '解放',
    'port.status.connected': '接続中',
    'port.status.waiting': '待機中',
    'port.status.released': '解放済み',
    'port.status.error': 'エラー',
    'port.serial': 'シリアル番号 {serial}',
    'port.baud': '{baud} ボー',
    'port.lines': '{parsed} 行を読み取り、{unparsed} 行は解釈できず',
    'port.overlong': '、{n} 行は長すぎ',
    'port.released': '解放しました。今のうちにボードに書き込み、終わったら「接続」を押してください。',
    'port.toFix': '対処法：',
    'forward.title': 'ほかのデータベースへ転送',
    'forward.none': '転送先はありません。InfluxDB・VictoriaMetrics・MQTT のアドレスを追加すると、すべての測定値をそこにも送ります。',
    'forward.unavailable': 'この Clima は転送先の一覧を取得できません。',
    'forward.placeholder': 'http://ホスト:8086/write?db=clima または mqtt://ホスト:1883/clima',
    'forward.add': '追加',
    'forward.remove': '削除',
    'forward.fromCommandLine': '--forward で指定',
    'forward.state.connected': '接続中',
    'forward.state.retrying': '再試行中',
    'forward.state.starting': '開始中',
    'forward.upToDate': '最新',
    'forward.behind': '{n} 件遅れ（{seconds} 秒）',
    'forward.lastError': '最後のエラー {at}：{message}',
    'forward.lost': '送信前に保持期間で削除された測定値 {n} 件',
    'background.title': 'バックグラウンド',
    'background.keepInTray': 'ウィンドウを閉じてもトレイで動かし続ける',
    'background.noTray': 'このセッションにはトレイがありません。ウィンドウを閉じると Clima は終了します。',
    'background.autostart': 'ログイン時に Clima を起動する',
    'about.title': 'Clima について',
    'about.version': 'バージョン',
    'port.unparsed': '解釈できなかった行（{n}）',
    'example.esphome': 'デバイスの YAML に追加します。room_temp と room_hum はあなたのセンサーの id です。',
    'example.readSensor': 'ここでセンサーを読み取ります',
    'example.shelly': 'Shelly H&T：Settings → Actions → 「Sensor reports」（Gen1 では「Report sensor values」）にこの URL を貼り付けます。\ntemp= と hum= は Shelly が自分で付け加えます。',
    'error.other': 'エラー：{message}',
    'error.detail': '{error}：{detail}',
    'error.offline': 'Clima が応答しません',
    'error.unauthorized': 'トークンがないか、間違っています。現在のトークンを貼り付けてください。',
    'error.rate_limited': 'リクエストが多すぎます。少し待ってからやり直してください。',
    'error.store_unavailable': 'データベースに書き込めません',
    'error.store': 'データベースでエラーが起きました',
    'error.config': 'この設定では Clima を起動できません',
    'error.engine': 'Clima を起動できませんでした',
    'error.stopped': 'Clima は終了処理中です。',
    'error.io': 'ファイルを書き込めませんでした',
    'error.internal': 'Clima の内部で失敗しました',
    'error.invalid': 'Clima がリクエストを拒否しました',
    'error.not_found': '見つかりません。',
    'error.unknown_port': 'このポートはもうありません。',
    'error.unknown_sensor': 'このセンサーはもうありません。',
    'error.unknown_series': 'このセンサーと項目の測定値はありません。',
    'error.invalid_settings': 'このボードの設定は拒否されました',
    'error.invalid_label': 'この名前は拒否されました',
    'error.demo_unavailable': 'デモボードを起動できません',
    'error.unavailable': 'この Clima では使えません。',
    'error.token_fixed': 'トークンは --token で指定されています。変更はそちらで行ってください。',
    'error.foreign_origin': '別のサイトからのリクエストを Clima が拒否しました。',
    'error.host_not_allowed': 'Clima はこのアドレスでは応答しません。--allow-host で追加してください。',
    'error.ipc': 'アプリが応答しませんでした。',
  },
};
