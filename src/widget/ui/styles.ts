/**
 * The widget's stylesheet, injected into its shadow root: host-page CSS cannot
 * reach in and ours cannot leak out. Colors come from the integration through
 * the custom properties set in ./theme.
 */
export const STYLES = `
:host{all:initial}
.root{font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif,"Apple Color Emoji","Segoe UI Emoji";color:#1f2937;-webkit-font-smoothing:antialiased}
*,*::before,*::after{box-sizing:border-box}
button,input,select,textarea{font:inherit;color:inherit}
button{cursor:pointer}
:focus-visible{outline:2px solid var(--p-action);outline-offset:2px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
[hidden]{display:none!important}

.launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;padding:0;border-radius:50%;background:var(--p-brand);color:var(--p-on-brand);display:grid;place-items:center;box-shadow:0 6px 20px rgba(15,23,42,.24);transition:transform .18s ease,box-shadow .18s ease}
.launcher:hover{transform:scale(1.06);box-shadow:0 8px 26px rgba(15,23,42,.3)}
.launcher:focus-visible{outline-offset:4px}
.launcher>img{width:100%;height:100%;border-radius:inherit;object-fit:cover}
.launcher svg{width:28px;height:28px}
.launcher .ic-close{display:none}
.launcher[aria-expanded=true] .ic-open{display:none}
.launcher[aria-expanded=true] .ic-close{display:block}
.launcher.tab{bottom:0;right:24px;border-radius:12px 12px 0 0;width:auto!important;height:auto!important;padding:10px 18px;display:flex;gap:8px;font-weight:600;font-size:14px}
.launcher.tab svg{width:20px;height:20px}
.launcher.tab:hover{transform:translateY(-2px)}
.badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#e11d48;color:#fff;font-size:12px;font-weight:700;line-height:20px;text-align:center;box-shadow:0 0 0 2px #fff}
.badge[hidden]{display:none}

.panel{position:fixed;right:20px;bottom:var(--p-panel-bottom,92px);z-index:2147483001;width:380px;height:600px;max-height:calc(100vh - var(--p-panel-bottom,92px) - 20px);background:#fff;border-radius:16px;box-shadow:0 16px 48px rgba(15,23,42,.22),0 2px 8px rgba(15,23,42,.08);display:flex;flex-direction:column;overflow:hidden;transform-origin:bottom right;opacity:0;transform:translateY(16px) scale(.97);visibility:hidden;transition:opacity .22s ease,transform .22s cubic-bezier(.2,.8,.2,1),visibility 0s linear .22s}
.panel.open{opacity:1;transform:none;visibility:visible;transition-delay:0s}
.root.embedded{height:100%}
.embedded .panel{position:relative;right:auto;bottom:auto;width:100%;height:100%;max-height:none;opacity:1;transform:none;visibility:visible;box-shadow:none;border-radius:inherit}

.header{background:var(--p-brand);color:var(--p-on-brand);padding:14px 12px 14px 16px;display:flex;align-items:center;gap:12px;flex:none}
.header .avatar{width:40px;height:40px;box-shadow:0 0 0 2px rgba(255,255,255,.35)}
.header h2{margin:0;font-size:16px;font-weight:650;line-height:1.25}
.header p{margin:1px 0 0;font-size:12.5px}
.header .grow{flex:1;min-width:0}
.header h2,.header p{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.icon-btn{width:36px;height:36px;flex:none;border:0;border-radius:50%;background:transparent;color:inherit;display:grid;place-items:center;transition:background .15s}
.header .icon-btn:hover{background:rgba(127,127,127,.22)}
.header :focus-visible{outline-color:currentColor}
.avatar{border-radius:50%;object-fit:cover;flex:none;background:#e5e7eb;display:grid;place-items:center;font-weight:700;color:#4b5563;overflow:hidden}
.banner{background:#fff7e6;color:#92400e;font-size:12.5px;padding:6px 16px;text-align:center;flex:none}
.banner[hidden]{display:none}

.scroller{flex:1;overflow-y:auto;overscroll-behavior:contain;padding:12px 14px 10px;background:#f6f7f9;scrollbar-width:thin}
.intro{text-align:center;padding:12px 16px 18px;color:#4b5563}
.intro .avatar{width:56px;height:56px;margin:0 auto 8px;font-size:22px}
.intro strong{display:block;color:#111827;font-size:15px}
.intro p{margin:4px 0 0;font-size:13px}
.log{display:flex;flex-direction:column}
.day{align-self:center;font-size:11.5px;font-weight:600;color:#4b5563;background:#eceef2;border-radius:10px;padding:2px 10px;margin:14px 0 6px}
.row{display:flex;align-items:flex-end;gap:8px;margin-top:3px}
.row.start{margin-top:12px}
.row.user{justify-content:flex-end}
.row .avatar,.typing .avatar{width:28px;height:28px;font-size:12px}
.row .avatar.spacer{visibility:hidden}
.col{display:flex;flex-direction:column;align-items:flex-start;max-width:78%;min-width:0}
.row.user .col{align-items:flex-end}
.row.wide .col{max-width:calc(100% - 36px);flex:1}
.name{font-size:11.5px;color:#4b5563;margin:0 0 3px 4px}
.bubble{padding:9px 13px;border-radius:18px 18px 18px 6px;background:#fff;color:#111827;border:1px solid #e7e9ee;white-space:pre-wrap;overflow-wrap:anywhere;max-width:100%}
.row.user .bubble{background:var(--p-conv);color:var(--p-on-conv);border-color:transparent;border-radius:18px 18px 6px 18px}
.row[data-status=sending] .bubble{opacity:.65}
.row[data-status=failed] .bubble{opacity:.8;box-shadow:0 0 0 1.5px #ef4444}
.bubble a{color:inherit;text-decoration:underline;text-underline-offset:2px}
.bubble.media,.row.user .bubble.media{padding:0;overflow:hidden;background:#eef0f3;color:#111827;border-color:#e7e9ee}
.bubble.media img{display:block;max-width:100%;width:240px;max-height:280px;object-fit:cover}
.bubble .caption{padding:8px 12px}
.bubble.muted{font-style:italic;color:#6b7280;background:#fafafa}
.meta{font-size:11px;color:#5f6b7a;margin:3px 6px 0;display:flex;gap:6px;align-items:center}
.meta .bad{color:#b91c1c;font-weight:600}
.link-btn{border:0;background:none;padding:0;color:#b91c1c;font-weight:600;font-size:11px;text-decoration:underline}
.btns{display:flex;flex-direction:column;gap:6px;margin-top:8px;white-space:normal}
.btn{display:block;text-align:center;padding:8px 12px;border-radius:10px;border:1px solid var(--p-action);color:var(--p-action-text);background:#fff;font-weight:600;font-size:13.5px;text-decoration:none!important;transition:background .15s,color .15s}
.btn:hover:not(:disabled){background:var(--p-action);color:var(--p-on-action)}
.btn:disabled{opacity:.55;cursor:default}
.btn.primary{background:var(--p-action);color:var(--p-on-action)}
.btn.primary:hover:not(:disabled){filter:brightness(.93)}
.chips{display:flex;flex-wrap:wrap;gap:6px;justify-content:flex-end;margin:10px 0 2px}
.chip{border:1px solid var(--p-action);color:var(--p-action-text);background:#fff;border-radius:18px;padding:6px 14px;font-size:13.5px;display:inline-flex;gap:6px;align-items:center;transition:background .15s,color .15s}
.chip:hover{background:var(--p-action);color:var(--p-on-action)}
.chip img{width:16px;height:16px;border-radius:50%}
.chip svg{width:16px;height:16px}

.carousel{position:relative;width:100%}
.track{display:flex;gap:10px;overflow-x:auto;scroll-snap-type:x mandatory;scroll-behavior:smooth;padding:2px 2px 8px;scrollbar-width:none}
.track::-webkit-scrollbar{display:none}
.card{flex:0 0 78%;max-width:230px;scroll-snap-align:start;background:#fff;border:1px solid #e5e7eb;border-radius:14px;overflow:hidden;display:flex;flex-direction:column}
.card:focus-visible{outline-offset:-2px}
.card img,.item img{display:block;width:100%;aspect-ratio:1.91/1;object-fit:cover;background:#eef0f3}
.carousel.square .card img{aspect-ratio:1/1}
.card .body{padding:10px 12px 4px}
.card h3,.item h3{margin:0 0 2px;font-size:14px;font-weight:650;color:#111827}
.card p,.item p{margin:0;color:#4b5563;font-size:13px}
.card .btns{padding:0 12px 12px;margin-top:auto}
.cnav{position:absolute;top:calc(50% - 26px);width:32px;height:32px;border-radius:50%;border:0;background:#fff;color:#374151;box-shadow:0 2px 8px rgba(15,23,42,.2);display:grid;place-items:center}
.cnav:disabled{display:none}
.cnav.prev{left:-6px}
.cnav.next{right:-6px}
.cnav svg{width:16px;height:16px}
.list{width:100%;background:#fff;border:1px solid #e5e7eb;border-radius:14px;overflow:hidden}
.item{display:flex;gap:12px;padding:12px;border-top:1px solid #f0f1f4}
.item:first-child{border-top:0}
.item img{width:64px;height:64px;aspect-ratio:auto;border-radius:10px;flex:none}
.item.large{flex-direction:column}
.item.large img{width:100%;height:auto;aspect-ratio:1.91/1}
.item .body{flex:1;min-width:0}
.item .btns{flex-direction:row;flex-wrap:wrap}
.item .btn{padding:5px 10px;font-size:12.5px}
.list>.btns{padding:0 12px 12px;margin:0}
.file,.place{display:flex;gap:10px;align-items:center;padding:10px 12px;color:inherit;text-decoration:none!important;min-width:0}
.file .ic,.place .ic{width:38px;height:38px;border-radius:10px;background:rgba(127,127,127,.14);display:grid;place-items:center;flex:none}
.file strong,.place strong{display:block;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:190px}
.file small,.place small{display:block;opacity:.75;font-size:12px;white-space:normal}
.bubble.file-b,.bubble.place-b{padding:0}

.form{width:100%;background:#fff;border:1px solid #e5e7eb;border-radius:14px;padding:12px;display:grid;gap:10px}
.form p{margin:0;color:#374151}
.form label{display:grid;gap:4px;font-size:12.5px;font-weight:600;color:#374151}
.form input,.form select{font-weight:400;font-size:14px;padding:8px 10px;border:1px solid #d1d5db;border-radius:8px;background:#fff;color:#111827;width:100%}
.form input:focus,.form select:focus{outline:2px solid var(--p-action);outline-offset:-1px;border-color:transparent}
.form [aria-invalid=true]{border-color:#dc2626}
.form .err{color:#b91c1c;font-size:12px;font-weight:400}
.form .done{display:flex;gap:6px;align-items:center;color:#047857;font-weight:600;font-size:13px}
.form .done svg{width:16px;height:16px}
.form :disabled{background:#f9fafb;color:#6b7280}
.answers{display:grid;gap:4px;white-space:normal}
.answers span{display:block;font-size:11.5px;opacity:.8}
.answers b{font-weight:500}

.typing{display:flex;align-items:flex-end;gap:8px;margin-top:10px}
.typing[hidden]{display:none}
.dots{background:#fff;border:1px solid #e7e9ee;border-radius:18px 18px 18px 6px;padding:12px 14px;display:flex;gap:4px}
.dots i{width:7px;height:7px;border-radius:50%;background:#9ca3af;animation:p-dot 1.2s infinite ease-in-out}
.dots i:nth-child(2){animation-delay:.15s}
.dots i:nth-child(3){animation-delay:.3s}
@keyframes p-dot{0%,60%,100%{opacity:.35;transform:none}30%{opacity:1;transform:translateY(-3px)}}

.toast{margin:0 12px 8px;background:#fef2f2;color:#b91c1c;border-radius:10px;padding:8px 12px;font-size:12.5px}
.toast[hidden]{display:none}
.composer{display:flex;align-items:flex-end;gap:4px;margin:0 10px 10px;padding:4px 4px 4px 6px;border:1px solid #e0e3e8;border-radius:22px;background:#fff;transition:border-color .15s,box-shadow .15s}
.composer:focus-within{border-color:var(--p-action);box-shadow:0 0 0 3px color-mix(in srgb,var(--p-action) 18%,transparent)}
.composer textarea{flex:1;resize:none;border:0;outline:0;background:transparent;padding:7px 4px;line-height:1.4;max-height:120px;min-height:22px;font-size:14px}
.composer textarea:disabled{cursor:not-allowed}
.composer .icon-btn{color:#6b7280}
.composer .icon-btn:hover:not(:disabled){background:#f1f3f6}
.composer .send{color:var(--p-action)}
.composer .icon-btn:disabled{color:#c6cbd3;cursor:default}
.composer.blocked{background:#f6f7f9}
.foot{flex:none;background:#fff;padding-top:10px;border-top:1px solid #eef0f3}

.convs{display:none;flex:1;min-height:0;flex-direction:column;background:#fff}
.panel.listing .convs{display:flex}
.panel.listing .scroller,.panel.listing .composer,.panel.listing .banner,.panel.listing .header .icon-btn:not([data-testid=close]){display:none}
.panel.listing .foot{padding:0;border:0}
.convs-head{flex:none;display:flex;align-items:center;gap:6px;padding:8px 12px;border-bottom:1px solid #eef0f3}
.convs-head h3{margin:0;font-size:15px;font-weight:650;color:#111827}
.convs-scroll{flex:1;min-height:0;overflow-y:auto;overscroll-behavior:contain}
.convs-status{margin:16px;color:#4b5563;text-align:center}
.convs-items{list-style:none;margin:0;padding:6px}
.conv{display:flex;gap:12px;align-items:center;width:100%;min-height:56px;text-align:left;border:0;border-radius:12px;background:transparent;padding:10px}
.conv:hover{background:#f3f4f6}
.conv[aria-current=true]{background:#eef2f7}
.conv .avatar{width:40px;height:40px;font-size:16px}
.conv-main{flex:1;min-width:0;display:grid;gap:2px}
.conv-top,.conv-bottom{display:flex;gap:8px;align-items:center;min-width:0}
.conv-top strong,.conv-preview{flex:1;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.conv-top strong{font-weight:600;color:#111827}
.conv time{flex:none;font-size:12px;color:#4b5563}
.conv-preview{font-size:13px;color:#4b5563}
.conv.unread strong,.conv.unread .conv-preview{font-weight:700;color:#111827}
.conv-unread{flex:none;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#e11d48;color:#fff;font-size:12px;font-weight:700;line-height:20px;text-align:center}
.convs-foot{flex:none;padding:10px 12px 12px;border-top:1px solid #eef0f3}
.convs-foot .btn{width:100%;display:flex;gap:6px;align-items:center;justify-content:center;min-height:44px}
.convs-foot .btn svg{width:18px;height:18px}

@media (max-width:480px){
  .root:not(.embedded) .panel{top:0;left:0;right:auto;bottom:auto;width:100%;height:100%;height:100dvh;max-height:none;border-radius:0;transform-origin:bottom center}
  .root:not(.embedded) .header{padding-top:calc(14px + env(safe-area-inset-top,0px));padding-left:calc(16px + env(safe-area-inset-left,0px));padding-right:calc(12px + env(safe-area-inset-right,0px))}
  .root:not(.embedded) .foot{padding-bottom:env(safe-area-inset-bottom,0px)}
  .root:not(.embedded) .convs-foot{padding-bottom:calc(12px + env(safe-area-inset-bottom,0px))}
  .root.is-open:not(.embedded) .launcher{display:none}
  .composer textarea{font-size:16px}
  .header .icon-btn,.composer .icon-btn{width:44px;height:44px}
}
@media (prefers-reduced-motion:reduce){
  .panel,.launcher,.btn,.chip{transition:none!important}
  .track{scroll-behavior:auto}
  .dots i{animation:none}
}
`;
