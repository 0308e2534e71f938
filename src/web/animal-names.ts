/**
 * `useAnimalNames` (an app setting): an anonymous Web Messenger visitor gets
 * a friendly generated name ("Curious Otter") as their profile's given name
 * and surname, so an agent's inbox does not fill with nameless users. The
 * pair is drawn at random once, when the visitor becomes a user.
 */
const ADJECTIVES = ['Agile', 'Bold', 'Brave', 'Bright', 'Calm', 'Clever', 'Curious', 'Eager', 'Gentle', 'Happy', 'Jolly', 'Kind', 'Lively', 'Lucky', 'Merry', 'Nimble', 'Patient', 'Quick', 'Quiet', 'Sunny', 'Swift', 'Witty'];
const ANIMALS = ['Badger', 'Beaver', 'Crane', 'Dolphin', 'Falcon', 'Fox', 'Gecko', 'Heron', 'Koala', 'Lynx', 'Marmot', 'Otter', 'Owl', 'Panda', 'Puffin', 'Quokka', 'Raccoon', 'Seal', 'Sparrow', 'Tapir', 'Walrus', 'Wombat'];

const pick = <T>(list: readonly T[]) => list[crypto.getRandomValues(new Uint32Array(1))[0]! % list.length]!;

export const animalName = () => ({ givenName: pick(ADJECTIVES), surname: pick(ANIMALS) });
