/**
 * The catalog the storefront shows and the rich messages the inbox's quick
 * buttons send, so every content type the widget renders can be tried in one
 * click: a carousel (postback and link buttons), quick replies and a form.
 * Image URLs are absolute and point at the demo server: the widget loads them
 * from another origin than Parley's.
 */

export interface Product {
  slug: string;
  name: string;
  blurb: string;
  price: string;
  tag?: string;
}

export const PRODUCTS: Product[] = [
  { slug: 'jacket', name: 'Ridgeline Shell Jacket', blurb: 'Waterproof, breathable, packs into its own pocket.', price: '$189', tag: 'Bestseller' },
  { slug: 'boots', name: 'Summit Hiking Boots', blurb: 'Grippy soles and a waterproof lining for long days.', price: '$149' },
  { slug: 'backpack', name: 'Trailhead 28L Pack', blurb: 'Ventilated back panel, hip belt, rain cover included.', price: '$119', tag: 'New' },
  { slug: 'tent', name: 'Basecamp 2P Tent', blurb: 'Two-person, three-season, pitches in five minutes.', price: '$329' },
];

export type RichKind = 'carousel' | 'quickReplies' | 'form';

export function richContent(kind: RichKind, demoUrl: string): Record<string, unknown> {
  switch (kind) {
    case 'carousel':
      return {
        type: 'carousel',
        items: PRODUCTS.slice(0, 3).map((p) => ({
          title: `${p.name} · ${p.price}`,
          description: p.blurb,
          mediaUrl: `${demoUrl}/img/${p.slug}.svg`,
          mediaType: 'image/svg+xml',
          altText: p.name,
          actions: [
            { type: 'postback', text: 'Add to cart', payload: `ADD_TO_CART:${p.slug}` },
            { type: 'link', text: 'View details', uri: `${demoUrl}/#${p.slug}` },
          ],
        })),
      };
    case 'quickReplies':
      return {
        type: 'text',
        text: 'Happy to help! What can we do for you?',
        actions: [
          { type: 'reply', text: 'Track my order', payload: 'TRACK_ORDER' },
          { type: 'reply', text: 'Returns & exchanges', payload: 'RETURNS' },
          { type: 'reply', text: 'Sizing help', payload: 'SIZING' },
          { type: 'reply', text: 'Talk to a person', payload: 'HUMAN' },
        ],
      };
    case 'form':
      return {
        type: 'form',
        text: 'Leave your details and we will email you when the Ridgeline is back in your size.',
        blockChatInput: false,
        fields: [
          { type: 'text', name: 'name', label: 'Your name', placeholder: 'Alex Doe', minSize: 1, maxSize: 80 },
          { type: 'email', name: 'email', label: 'Email', placeholder: 'alex@example.com' },
          {
            type: 'select',
            name: 'size',
            label: 'Size',
            options: ['XS', 'S', 'M', 'L', 'XL'].map((s) => ({ label: s, name: s.toLowerCase() })),
          },
        ],
      };
  }
}

export const isRichKind = (kind: unknown): kind is RichKind => kind === 'carousel' || kind === 'quickReplies' || kind === 'form';
